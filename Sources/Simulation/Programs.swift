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
    /// The program gives every message an outcome, so one without is a liveness finding.
    var reportsOutcomes: Bool { get }
}

extension ClientProgram {
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

    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
    }

    public func accept(connection: Int) -> SimulatedEndpoint {
        let e = BuiltInServerEndpoint(configuration: configuration, connectionID: "C\(connection)")
        e.onDeliver = { [unowned self] message in self.maildrop.record([.deliver(message)]) }
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
