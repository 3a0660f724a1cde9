import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
@_exported import TestSupport

func message(_ id: String = "m1", from: String = "alice@example.test", to: [String] = ["bob@example.net"], body: String = "Subject: hi\r\n\r\nhello\r\n") -> OutgoingMessage {
    OutgoingMessage(id: id, from: .mailbox(try! Mailbox(from)), to: to.map { .mailbox(try! Mailbox($0)) }, body: Array(body.utf8))
}

/// A configuration with one client sending one message, changed by `change`.
func scenario(seed: UInt64 = 1, _ change: (inout SimulationConfiguration) -> Void = { _ in }) -> SimulationConfiguration {
    var c = SimulationConfiguration(seed: seed)
    c.clients = [ClientSpec(configuration: ClientConfiguration(), messages: [message()])]
    change(&c)
    return c
}

func simulate(_ configuration: SimulationConfiguration) throws -> RunResult {
    try World(configuration: configuration).run()
}

extension RunResult {
    var statuses: [DeliveryStatus] { outcomes.map(\.status) }
    /// The oracles that fired, each once, in the order they first fired (every occurrence is in
    /// `findings`).
    var oracles: [Oracle] {
        var seen: [Oracle] = []
        for f in findings where !seen.contains(f.oracle) { seen.append(f.oracle) }
        return seen
    }
    func has(_ name: String) -> Bool {
        trace.events.contains {
            switch $0.kind {
            case .fault(let n, _), .attack(let n, _): n == name
            default: false
            }
        }
    }
}
