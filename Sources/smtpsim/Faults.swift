import ArgumentParser
import EndpointHosting

/// `smtpsim faults`: every fault, trigger and attacker action a scenario can use, from the same
/// tables the scenario loader reads (`FaultKind`, `AttackKind`, `ProtocolPhase`).
struct Faults: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every fault, trigger and attacker action with its parameters.")

    func run() {
        print("Faults (scenario key `faults`; common settings: at, occurrence, connections, direction):")
        Self.table(FaultKind.allCases.map { ($0.rawValue, $0.parameters, $0.summary) })
        print("\nTriggers (`at`):")
        print("  phases: \(ProtocolPhase.allCases.map(\.rawValue).joined(separator: ", "))")
        print("  also: connection-opened, tls-started, {client-writes|server-writes: TEXT, cut: after-match|after-write|before-match, epoch: 0|1}, {time: DURATION}, {handshake-bytes: N}")
        print("\nAttacker actions (scenario key `attacker`):")
        Self.table(AttackKind.allCases.map { ($0.rawValue, $0.parameters, $0.summary) })
    }

    /// Name, parameters and summary in columns; a row whose parameters overrun their column
    /// puts its summary on the next line, under the column.
    static func table(_ rows: [(name: String, parameters: String, summary: String)]) {
        let nameWidth = rows.map(\.name.count).max() ?? 0
        let parameterWidth = 34
        for row in rows {
            let head = "  \(pad(row.name, nameWidth))  "
            if row.parameters.count <= parameterWidth {
                print(head + pad(row.parameters, parameterWidth) + " " + row.summary)
            } else {
                print(head + row.parameters)
                print(String(repeating: " ", count: head.count + parameterWidth + 1) + row.summary)
            }
        }
    }

    static func pad(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count), withPad: " ", startingAt: 0) }
}
