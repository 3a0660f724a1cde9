import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// of a user's implementation).
public protocol ClientProgram: AnyObject {
    /// The next connection's endpoint; nil when nothing is left to do.
    func nextConnection() -> SimulatedEndpoint?
    /// The connection ended: try again after a delay, or stop.
    func connectionFinished(_ endpoint: SimulatedEndpoint) -> SMTPClient.Next
    /// The connection could not be made.
    func connectionFailed(reason: String) -> SMTPClient.Next
    /// The messages this client meant to deliver (for the transaction-count and round-trip oracles).
    var intendedMessages: [OutgoingMessage] { get }
    /// Final outcome per message id (empty for implementations that do not report).
    var outcomes: [String: MessageOutcome] { get }
    /// The TLS policy, for the plaintext-exposure oracle.
    var policy: TLSPolicy { get }
    /// Configured for implicit TLS (RFC 8314 §3), for the same oracle.
    var implicitTLS: Bool { get }
    /// The program gives every message an outcome, so one without is a liveness finding.
    var reportsOutcomes: Bool { get }
}

extension ClientProgram {
    public var implicitTLS: Bool { false }
    /// A program that reported some outcome reports them all.
    public var reportsOutcomes: Bool { !outcomes.isEmpty }
}

/// A source of server connections.
public protocol ServerProgram: AnyObject {
    func accept(connection: Int) -> SimulatedEndpoint
    /// Messages accepted so far (empty for implementations that do not report).
    var accepted: [AcceptedMessage] { get }
}


public final class BuiltInServerProgram: ServerProgram {
    public let configuration: ServerConfiguration
    public var maildrop = Maildrop()
    /// Called for each accepted message after the maildrop keeps it (a relay forwards it).
    public var onDeliver: ((AcceptedMessage) -> Void)?

    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
    }

    public func accept(connection: Int) -> SimulatedEndpoint {
        let e = BuiltInServerEndpoint(configuration: configuration, connectionID: "C\(connection)")
        e.onDeliver = { [unowned self] message in
            self.maildrop.record([.deliver(message)])
            self.onDeliver?(message)
        }
        return e
    }

    public var accepted: [AcceptedMessage] { maildrop.messages }
}


public final class BuiltInClientProgram: ClientProgram {
    public private(set) var queue: SMTPClient

    public init(configuration: ClientConfiguration, messages: [OutgoingMessage]) {
        queue = SMTPClient(configuration: configuration, messages: messages)
    }

    public func nextConnection() -> SimulatedEndpoint? {
        queue.nextAttempt().map { BuiltInClientEndpoint(machine: $0) }
    }

    public func connectionFinished(_ endpoint: SimulatedEndpoint) -> SMTPClient.Next {
        guard let e = endpoint as? BuiltInClientEndpoint else { return .done }
        return queue.attemptFinished(e.machine)
    }

    public func connectionFailed(reason: String) -> SMTPClient.Next { queue.connectionFailed(reason: reason) }
    public var intendedMessages: [OutgoingMessage] { queue.messages }
    public var outcomes: [String: MessageOutcome] { queue.results }
    public var policy: TLSPolicy { queue.configuration.policy }
    public var implicitTLS: Bool { queue.configuration.implicitTLS }
    public var reportsOutcomes: Bool { true }
}

/// A relay's outbound side (docs/design.md "Relays"): forwards every message the relay's inbound
/// side accepts, as it was stored, with smtpsim's client. Messages accepted while a delivery is
/// under way wait for it to finish and then go together, each batch with its own retry schedule
/// (RFC 5321 §4.5.4.1).
public final class RelayForwarder: ClientProgram {
    public let configuration: ClientConfiguration
    private var waiting: [OutgoingMessage] = []
    private var current: SMTPClient?
    private var results: [String: MessageOutcome] = [:]
    public private(set) var intendedMessages: [OutgoingMessage] = []

    public init(configuration: ClientConfiguration) {
        self.configuration = configuration
    }

    /// The message the inbound side accepted, to forward: same envelope, its stored body (the
    /// client's line-ending policy and dot-stuffing decide what goes on the wire).
    public func enqueue(_ accepted: AcceptedMessage) {
        let message = OutgoingMessage(id: "relay.\(accepted.queueID)", from: accepted.reversePath, to: accepted.recipients, body: accepted.body)
        waiting.append(message)
        intendedMessages.append(message)
    }

    public func nextConnection() -> SimulatedEndpoint? {
        if current == nil, !waiting.isEmpty {
            current = SMTPClient(configuration: configuration, messages: waiting)
            waiting = []
        }
        guard let machine = current?.nextAttempt() else {
            current = nil  // attempts ran out: its outcomes were kept as each attempt ended
            return waiting.isEmpty ? nil : nextConnection()
        }
        return BuiltInClientEndpoint(machine: machine)
    }

    public func connectionFinished(_ endpoint: SimulatedEndpoint) -> SMTPClient.Next {
        guard let e = endpoint as? BuiltInClientEndpoint, current != nil else { return waiting.isEmpty ? .done : .retry(after: 0) }
        return settle(current!.attemptFinished(e.machine))
    }

    public func connectionFailed(reason: String) -> SMTPClient.Next {
        guard current != nil else { return waiting.isEmpty ? .done : .retry(after: 0) }
        return settle(current!.connectionFailed(reason: reason))
    }

    /// Keeps the attempt's outcomes; a finished batch makes way for the messages waiting behind it.
    private func settle(_ next: SMTPClient.Next) -> SMTPClient.Next {
        if let batch = current { for (id, o) in batch.results { results[id] = o } }  // one key per message: order does not matter
        guard case .done = next else { return next }
        current = nil
        return waiting.isEmpty ? .done : .retry(after: 0)
    }

    public var outcomes: [String: MessageOutcome] { results }
    public var policy: TLSPolicy { configuration.policy }
    public var implicitTLS: Bool { configuration.implicitTLS }
    public var reportsOutcomes: Bool { true }
}

/// One connection of any client endpoint, run once (for implementations without a queue).
public final class SingleConnectionProgram: ClientProgram {
    private var endpoint: SimulatedEndpoint?
    public let intendedMessages: [OutgoingMessage]
    public let policy: TLSPolicy
    public var outcomes: [String: MessageOutcome] = [:]

    public init(endpoint: SimulatedEndpoint, intendedMessages: [OutgoingMessage] = [], policy: TLSPolicy = .opportunistic) {
        self.endpoint = endpoint
        self.intendedMessages = intendedMessages
        self.policy = policy
    }

    public func nextConnection() -> SimulatedEndpoint? {
        defer { endpoint = nil }
        return endpoint
    }

    public func connectionFinished(_ endpoint: SimulatedEndpoint) -> SMTPClient.Next { .done }
    public func connectionFailed(reason: String) -> SMTPClient.Next { .done }
}

/// A server program that answers every connection with the same script.
public final class ScriptedServerProgram: ServerProgram {
    public let steps: [ScriptStep]
    public init(steps: [ScriptStep]) { self.steps = steps }
    public func accept(connection: Int) -> SimulatedEndpoint { ScriptedEndpoint(role: .server, steps: steps) }
    public var accepted: [AcceptedMessage] { [] }
}
