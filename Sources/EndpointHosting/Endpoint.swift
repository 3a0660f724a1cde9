import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS

/// Which end of a connection an implementation plays.
public enum EndpointRole: String, Hashable, Sendable, Codable {
    case client, server
}

/// A timer an endpoint arms: typed for smtpsim's machines, named for an implementation of a
/// user's own.
public enum TimerID: Hashable, Sendable, CustomStringConvertible {
    case server(ServerTimer)
    case client(ClientTimer)
    case named(String)

    public var description: String {
        switch self {
        case .server(let t): "server-\(t.rawValue)"
        case .client(let t): "client-\(t.rawValue)"
        case .named(let name): name
        }
    }
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
    /// Call `timerFired(id)` after this many nanoseconds (simulated or wall-clock); arming an
    /// id again replaces the earlier one.
    case setTimer(TimerID, after: Int64)
    case cancelTimer(TimerID)
    /// A line for the trace (formatted only when read).
    case note(Note)
    /// The TLS session has ended: read and write the stream in the clear again. No compliant
    /// endpoint asks for this; it is how the flaws of docs/catalog.md I (CVE-2026-45185) behave.
    case resumePlaintext
    /// This side's TLS stack performs a session event now (a scripted peer's close_notify or
    /// alert, docs/catalog.md I); where it cannot (no session), the trace notes why.
    case perform(TLSSessionEvent)
}

/// How a TLS session ended under one side (docs/catalog.md I; RFC 8446 §6).
public enum TLSEnd: Hashable, Sendable, CustomStringConvertible {
    /// This side sent close_notify (a fault made it).
    case closeNotifySent
    /// The peer's close_notify arrived.
    case closeNotifyReceived
    /// This side sent a fatal alert (a fault made it).
    case alertSent(TLSSessionAlert)
    /// A fatal alert arrived, or a record could not be read (this side then sent one).
    case failed(TLSFailure)

    /// Ended by an alert rather than by close_notify.
    public var byAlert: Bool {
        switch self {
        case .closeNotifySent, .closeNotifyReceived: false
        case .alertSent, .failed: true
        }
    }

    public var description: String {
        switch self {
        case .closeNotifySent: "close_notify sent"
        case .closeNotifyReceived: "close_notify received"
        case .alertSent(let alert): "fatal alert \(alert.rawValue) sent"
        case .failed(let failure): failure.alertReceived.map { "fatal alert \($0.name) received" } ?? "unreadable record (\(failure.kind.rawValue))"
        }
    }
}

/// What the simulator's TLS engine achieved, as an endpoint sees it.
public struct TLSReport: Hashable, Sendable {
    public var established: Bool
    public var peerVerified: Bool
    public var version: String?
    public var cipherSuite: String?
    /// Failure class (`certificate-expired`, `malformed-record`, …).
    public var failure: TLSFailure.Kind?
    public var rfc8460ResultType: TLSResultType?

    public init(established: Bool, peerVerified: Bool, version: String? = nil, cipherSuite: String? = nil, failure: TLSFailure.Kind? = nil, rfc8460ResultType: TLSResultType? = nil) {
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
        let failure = role == .client ? details.verificationFailure : nil
        self.init(established: true, peerVerified: verified, version: details.version, cipherSuite: details.cipherSuite,
                  failure: failure, rfc8460ResultType: failure.map { TLSResultType($0) })
    }

    /// A handshake (or record layer) that failed.
    public init(failed failure: TLSFailure) {
        self.init(established: false, peerVerified: false, failure: failure.kind, rfc8460ResultType: TLSResultType(failure))
    }

    /// A handshake that fails with `kind` whatever OpenSSL said (the fail-handshake fault).
    public init(forced kind: TLSFailure.Kind) {
        self.init(established: false, peerVerified: false, failure: kind, rfc8460ResultType: TLSResultType(kind))
    }
}

extension TLSResultType {
    /// The RFC 8460 §4.3 result type a sending MTA reports for a TLS failure: the four
    /// certificate results where they apply, `validation-failure` (§4.3.3, the general result)
    /// for everything else.
    public init(_ failure: TLSFailure) {
        if failure.kind == .peerAlert, let alert = failure.alertReceived?.code {
            switch alert {
            case 48: self = .certificateNotTrusted  // unknown_ca
            case 45: self = .certificateExpired
            default: self = .validationFailure
            }
            return
        }
        self.init(failure.kind)
    }

    public init(_ kind: TLSFailure.Kind) {
        switch kind {
        case .certificateHostMismatch: self = .certificateHostMismatch
        case .certificateExpired: self = .certificateExpired
        case .certificateNotTrusted, .pinnedCertificateMismatch: self = .certificateNotTrusted
        case .certificateNotYetValid, .weakKey, .validationFailure, .peerAlert, .protocolVersionMismatch, .noSharedCipher,
            .clientCertificateRequired, .clientCertificateRejected, .malformedRecord, .pskMismatch, .unexpectedEOF, .internalError:
            self = .validationFailure
        }
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
    func timerFired(_ id: TimerID) -> [EndpointAction]
    /// The peer closed, or the connection broke.
    func peerClosed() -> [EndpointAction]
    /// The TLS session ended under this endpoint: the peer's close_notify, or a fatal alert or
    /// unreadable record (`.failed`). The default: the connection is lost, as after a FIN.
    func tlsEnded(_ end: TLSEnd) -> [EndpointAction]
    /// The operator shuts the service down (the async-421 fault). Clients ignore it.
    func shutdown() -> [EndpointAction]
}

extension SimulatedEndpoint {
    public func shutdown() -> [EndpointAction] { [] }
    public func tlsEnded(_ end: TLSEnd) -> [EndpointAction] { peerClosed() }
}

/// A source of client connections (the built-in client with its retry queue, or one connection

/// A line an endpoint or its host notes. Its text is made when it is read, so a run that keeps
/// no trace text (a sweep's, the bench's) formats none: the machines' notes are values.
public struct Note: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// Boxed: a note is handed from the machine to the host to the driver, and its payloads
    /// (commands, replies, messages) are large to copy at each step; a box is one retain.
    indirect enum Source: Sendable {
        case text(String)
        case server(ServerNote)
        case client(ClientNote)
        case accepted(AcceptedMessage)
        case outcome(MessageOutcome)
        /// STARTTLS dropped what was buffered (`what`: "plaintext" or "buffered reply").
        case discarded(octets: Int, what: String)
    }

    let source: Source

    init(_ source: Source) { self.source = source }
    public init(_ text: String) { source = .text(text) }
    public init(stringLiteral value: String) { source = .text(value) }
    public init(stringInterpolation: DefaultStringInterpolation) { source = .text(String(stringInterpolation: stringInterpolation)) }

    public var description: String { text }

    /// An implicit-TLS endpoint's handshake starts as the connection opens.
    static let implicitTLS = Note("implicit TLS: the handshake starts as the connection opens (RFC 8314 §3)")

    /// Two notes are the same line.
    public static func == (a: Note, b: Note) -> Bool { a.text == b.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    /// The line, as the trace and the logs show it.
    public var text: String {
        switch source {
        case .text(let t): t
        case .server(let n): Self.describe(n)
        case .client(let n): Self.describe(n)
        case .accepted(let m): "accepted \(m.queueID) from \(m.reversePath) for \(m.recipients.count) recipient(s), \(m.body.count) octets\(m.overTLS ? " over TLS" : "")"
        case .outcome(let o): "outcome \(o.messageID): \(o.status.rawValue) (\(o.reason))"
        case .discarded(let n, let what): "starttls: discarded \(n) \(what) octets"
        }
    }

    static func describe(_ note: ServerNote) -> String {
        switch note {
        case .command(let c): "command " + c.description
        case .protocolError(let e): "protocol error \(e.code): \(e.detail)"
        case .earlyTalker(let n): "early talker: \(n) octets before the greeting"
        case .keptPlaintextAcrossStartTLS(let n): "kept \(n) plaintext octets across STARTTLS"
        case .dataFindings(let f): "data findings: \(f.variants.map(\.rawValue)) bare CR \(f.bareCR) bare LF \(f.bareLF)"
        case .resetAfterTLS(let kept): kept.map { "reset after TLS, kept authentication as \($0)" } ?? "reset after TLS"
        case .ruleFired(let index, let trigger, let acts): "rule \(index + 1) fired at \(trigger)\(acts ? "" : ", without acting")"
        }
    }

    static func describe(_ note: ClientNote) -> String {
        switch note {
        case .reply(let r): "reply " + r.code.description
        case .capabilities(let c, let afterTLS): "capabilities\(afterTLS ? " (tls)" : ""): \(c.extensions.map(\.keyword).joined(separator: " "))"
        case .protocolError(let e): "protocol error \(e.code): \(e.detail)"
        case .downgrade(let why): "downgrade: \(why)"
        case .keptRepliesAcrossStartTLS(let n): "kept \(n) reply octets across STARTTLS"
        case .keptPreTLSCapabilities: "kept pre-TLS capabilities"
        case .capabilitiesResetAfterTLS: "capabilities reset after TLS"
        case .ruleFired(let index, let answering): "rule \(index + 1) fired at the reply to \(answering)"
        }
    }
}

/// What a released host holds instead of its endpoint: it does nothing (`EndpointHost.release`).
final class ReleasedEndpoint: SimulatedEndpoint {
    let role: EndpointRole
    init(role: EndpointRole) { self.role = role }
    func start() -> [EndpointAction] { [] }
    func receive(_ bytes: [UInt8]) -> [EndpointAction] { [] }
    func tlsFinished(_ report: TLSReport) -> [EndpointAction] { [] }
    func timerFired(_ id: TimerID) -> [EndpointAction] { [] }
    func peerClosed() -> [EndpointAction] { [] }
}
