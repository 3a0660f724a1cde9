import ArgumentParser
import EndpointHosting

/// `smtpsim faults`: every fault, trigger and attacker action a scenario can use, from the same
/// tables the scenario loader reads (`FaultKind`, `AttackKind`, `ProtocolPhase`).
struct Faults: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every fault, trigger and attacker action with its parameters.")

    func run() {
        print("Faults (scenario key `faults`; common settings: at, occurrence, connections, direction):")
        for kind in FaultKind.allCases { print("  \(Self.pad(kind.rawValue, 18)) \(Self.pad(kind.parameters, 34)) \(kind.summary)") }
        print("\nTriggers (`at`):")
        print("  phases: \(ProtocolPhase.allCases.map(\.rawValue).joined(separator: ", "))")
        print("  also: connection-opened, tls-started, {client-writes|server-writes: TEXT, cut: after-match|after-write, epoch: 0|1}, {time: DURATION}, {handshake-bytes: N}")
        print("\nAttacker actions (scenario key `attacker`):")
        for kind in AttackKind.allCases { print("  \(Self.pad(kind.rawValue, 22)) \(Self.pad(kind.parameters, 32)) \(kind.summary)") }
    }

    static func pad(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count), withPad: " ", startingAt: 0) }
}
