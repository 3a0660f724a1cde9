import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS

/// Which end of a connection an implementation plays.
public enum EndpointRole: String, Hashable, Sendable, Codable {
    case client, server
}

/// What an endpoint asks the simulator to do. The simulator carries these out: it owns the link,
/// the TLS engine and the clock.
public enum EndpointAction: Hashable, Sendable {
    /// Send application bytes (encrypted when TLS is up).
    case send([UInt8])
    /// Put TLS between the link and this endpoint now (client: send the ClientHello; server: the
    /// next bytes from the link are the ClientHello).
    case startTLS
    case close
    case setTimer(String, after: Int64)
    case cancelTimer(String)
    /// A line for the trace.
    case note(String)
}

/// What the simulator's TLS engine achieved, as an endpoint sees it.
public struct TLSReport: Hashable, Sendable {
    public var established: Bool
    public var peerVerified: Bool
    public var version: String?
    public var cipherSuite: String?
    /// Failure class (`certificate-expired`, `malformed-record`, …).
    public var failure: String?
    public var rfc8460ResultType: String?

    public init(established: Bool, peerVerified: Bool, version: String? = nil, cipherSuite: String? = nil, failure: String? = nil, rfc8460ResultType: String? = nil) {
        self.established = established
        self.peerVerified = peerVerified
        self.version = version
        self.cipherSuite = cipherSuite
        self.failure = failure
        self.rfc8460ResultType = rfc8460ResultType
    }
}

extension TLSReport {
    /// What a completed handshake means to the endpoint on `role`: a client learns whether the
    /// server's certificate verified (a PSK handshake counts as verified) and, if not, the failure
    /// class with its RFC 8460 result type.
    public init(completed details: TLSSessionDetails, role: EndpointRole) {
        let verified = details.peerVerified || details.usedPreSharedKey
        var failure: String?
        var rfc: String?
        if role == .client, !verified {
            let kind = TLSFailure.kind(forVerifyResult: details.verifyResult)
            failure = kind.rawValue
            rfc = TLSFailure(kind, reason: "").rfc8460ResultType
        }
        self.init(established: true, peerVerified: verified, version: details.version, cipherSuite: details.cipherSuite, failure: failure, rfc8460ResultType: rfc)
    }

    /// A handshake (or record layer) that failed.
    public init(failed failure: TLSFailure) {
        self.init(established: false, peerVerified: false, failure: failure.kind.rawValue, rfc8460ResultType: failure.rfc8460ResultType)
    }
}

/// An SMTP implementation the simulator can run: a user's own client or server (sans-IO or
/// byte-driven) plugs in by conforming; smtpsim's machines are two implementations of it.
///
/// Every call returns the actions to carry out, in order. Calls never overlap.
public protocol SimulatedEndpoint: AnyObject {
    var role: EndpointRole { get }
    /// The connection is open.
    func start() -> [EndpointAction]
    /// Application bytes from the peer (decrypted when TLS is up).
    func receive(_ bytes: [UInt8]) -> [EndpointAction]
    /// The TLS handshake this endpoint asked for finished.
    func tlsFinished(_ report: TLSReport) -> [EndpointAction]
    func timerFired(_ id: String) -> [EndpointAction]
    /// The peer closed, or the connection broke.
    func peerClosed() -> [EndpointAction]
    /// The operator shuts the service down (the async-421 fault). Clients ignore it.
    func shutdown() -> [EndpointAction]
}

extension SimulatedEndpoint {
    public func shutdown() -> [EndpointAction] { [] }
}

/// A source of client connections (the built-in client with its retry queue, or one connection
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
}

/// A source of server connections.
public protocol ServerProgram: AnyObject {
    func accept(connection: Int) -> SimulatedEndpoint
    /// Messages accepted so far (empty for implementations that do not report).
    var accepted: [AcceptedMessage] { get }
}

// MARK: - smtpsim's server

/// `SMTPServerConnection` as a simulated endpoint.
public final class BuiltInServerEndpoint: SimulatedEndpoint {
    public let role = EndpointRole.server
    public private(set) var machine: SMTPServerConnection
    weak var program: BuiltInServerProgram?
    /// Called for every accepted message (a driver outside the simulator keeps its own maildrop).
    public var onDeliver: ((AcceptedMessage) -> Void)?

    public init(configuration: ServerConfiguration, connectionID: String) {
        machine = SMTPServerConnection(configuration: configuration, connectionID: connectionID)
    }

    public func start() -> [EndpointAction] { map(machine.start()) }
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] { map(machine.receive(bytes)) }
    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        map(report.established ? machine.tlsEstablished() : machine.tlsFailed())
    }
    public func timerFired(_ id: String) -> [EndpointAction] {
        guard let timer = ServerTimer(rawValue: id) else { return [] }
        return map(machine.timerFired(timer))
    }
    public func peerClosed() -> [EndpointAction] { map(machine.peerClosed()) }
    public func shutdown() -> [EndpointAction] { map(machine.shutdown()) }

    private func map(_ actions: [ServerAction]) -> [EndpointAction] {
        var out: [EndpointAction] = []
        for action in actions {
            switch action {
            case .send(let b): out.append(.send(b))
            case .startTLS(let n):
                out.append(.note("starttls: discarded \(n) plaintext octets"))
                out.append(.startTLS)
            case .close: out.append(.close)
            case .setTimer(let t, let after): out.append(.setTimer(t.rawValue, after: after))
            case .cancelTimer(let t): out.append(.cancelTimer(t.rawValue))
            case .deliver(let m):
                program?.maildrop.record([action])
                onDeliver?(m)
                out.append(.note("accepted \(m.queueID) from \(m.reversePath) for \(m.recipients.count) recipient(s), \(m.body.count) octets\(m.overTLS ? " over TLS" : "")"))
            case .note(let n): out.append(.note(Self.describe(n)))
            }
        }
        return out
    }

    static func describe(_ note: ServerNote) -> String {
        switch note {
        case .command(let c): "command \(c)"
        case .protocolError(let e): "protocol error \(e.code): \(e.detail)"
        case .earlyTalker(let n): "early talker: \(n) octets before the greeting"
        case .keptPlaintextAcrossStartTLS(let n): "kept \(n) plaintext octets across STARTTLS"
        case .dataFindings(let f): "data findings: \(f.variants.map(\.rawValue)) bare CR \(f.bareCR) bare LF \(f.bareLF)"
        case .resetAfterTLS(let kept): kept.map { "reset after TLS, kept authentication as \($0)" } ?? "reset after TLS"
        }
    }
}

public final class BuiltInServerProgram: ServerProgram {
    public let configuration: ServerConfiguration
    public var maildrop = Maildrop()

    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
    }

    public func accept(connection: Int) -> SimulatedEndpoint {
        let e = BuiltInServerEndpoint(configuration: configuration, connectionID: "C\(connection)")
        e.program = self
        return e
    }

    public var accepted: [AcceptedMessage] { maildrop.messages }
}

// MARK: - smtpsim's client

/// `SMTPClientConnection` as a simulated endpoint.
public final class BuiltInClientEndpoint: SimulatedEndpoint {
    public let role = EndpointRole.client
    public private(set) var machine: SMTPClientConnection

    public init(machine: SMTPClientConnection) {
        self.machine = machine
    }

    public func start() -> [EndpointAction] { map(machine.start()) }
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] { map(machine.receive(bytes)) }
    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        map(machine.tlsHandshakeFinished(TLSHandshakeResult(
            established: report.established, peerVerified: report.peerVerified, version: report.version,
            failure: report.failure, rfc8460ResultType: report.rfc8460ResultType)))
    }
    public func timerFired(_ id: String) -> [EndpointAction] {
        guard let timer = ClientTimer(rawValue: id) else { return [] }
        return map(machine.timerFired(timer))
    }
    public func peerClosed() -> [EndpointAction] { map(machine.peerClosed()) }

    private func map(_ actions: [ClientAction]) -> [EndpointAction] {
        var out: [EndpointAction] = []
        for action in actions {
            switch action {
            case .send(let b): out.append(.send(b))
            case .startTLS(let n):
                out.append(.note("starttls: discarded \(n) buffered reply octets"))
                out.append(.startTLS)
            case .close: out.append(.close)
            case .setTimer(let t, let after): out.append(.setTimer(t.rawValue, after: after))
            case .cancelTimer(let t): out.append(.cancelTimer(t.rawValue))
            case .outcome(let o): out.append(.note("outcome \(o.messageID): \(o.status.rawValue) (\(o.reason))"))
            case .note(let n): out.append(.note(Self.describe(n)))
            }
        }
        return out
    }

    static func describe(_ note: ClientNote) -> String {
        switch note {
        case .reply(let r): "reply \(r.code)"
        case .capabilities(let c, let afterTLS): "capabilities\(afterTLS ? " (tls)" : ""): \(c.extensions.map(\.keyword).joined(separator: " "))"
        case .protocolError(let e): "protocol error \(e.code): \(e.detail)"
        case .downgrade(let why): "downgrade: \(why)"
        case .keptRepliesAcrossStartTLS(let n): "kept \(n) reply octets across STARTTLS"
        case .keptPreTLSCapabilities: "kept pre-TLS capabilities"
        case .capabilitiesResetAfterTLS: "capabilities reset after TLS"
        }
    }
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
