import SMTPCore

/// Timers a server asks its driver for.
public enum ServerTimer: String, Hashable, Sendable {
    /// The greeting delay ran out.
    case greeting
    /// No command (or no data) arrived in time (RFC 5321 §4.5.3.2.7).
    case idle
}

/// What the driver must do for the server, in order.
public enum ServerAction: Hashable, Sendable {
    /// Send these bytes (replies, flushed together when the input drained: RFC 2920 §3.2).
    case send([UInt8])
    /// The 220 to STARTTLS has been queued; after sending it, put TLS between the link and the
    /// server. Every plaintext byte the server had buffered was dropped (RFC 3207 §4.2): the count.
    case startTLS(discardedPlaintext: Int)
    /// Close the connection after sending what was queued.
    case close
    case setTimer(ServerTimer, after: Int64)
    case cancelTimer(ServerTimer)
    /// A message was accepted (the 250 is in the same batch).
    case deliver(AcceptedMessage)
    /// Something worth recording in a trace.
    case note(ServerNote)
    /// The TLS session has ended: read the link as plaintext again. Only a flaw asks for this
    /// (`readsPlaintextAfterCloseNotify`, `ignoresFatalAlerts`; docs/catalog.md I).
    case resumePlaintext
}

/// Observations the server reports for traces and oracles.
public enum ServerNote: Hashable, Sendable {
    /// A command line was parsed (before any reply).
    case command(SMTPCommand)
    /// A line could not be parsed; the error carries the reply sent.
    case protocolError(SMTPError)
    /// The client talked before the greeting (RFC 5321 §4.5.3.2.1; postscreen's "pregreet").
    case earlyTalker(octets: Int)
    /// Plaintext that arrived behind STARTTLS and was kept (flaw) instead of discarded.
    case keptPlaintextAcrossStartTLS(octets: Int)
    /// The DATA decoder's findings for one message (smuggling sequences, bare CR/LF, long lines).
    case dataFindings(DataFindings)
    /// The state was reset by a completed TLS handshake; `forgotAuthentication` is false only
    /// under the session-fixation flaw.
    case resetAfterTLS(keptAuthentication: String?)
    /// Rule `index` (of `ServerConfiguration.rules`) fired at `trigger`.
    case ruleFired(index: Int, trigger: String, acts: Bool)
}

/// A message the server took responsibility for (RFC 5321 §4.2.5): what the maildrop keeps.
public struct AcceptedMessage: Hashable, Sendable {
    public var queueID: String
    public var reversePath: ReversePath
    public var recipients: [ForwardPath]
    public var parameters: MailParameters
    /// The message exactly as received, unstuffed, ending with CRLF.
    public var body: [UInt8]
    public var heloName: String?
    /// Whether the message arrived inside TLS.
    public var overTLS: Bool
    /// The server took the end of the message in the clear after its TLS session ended (a flaw:
    /// docs/catalog.md I): what completed it is no client's doing.
    public var completedAfterTLSEnd = false
    /// The AUTH identity in force, if any.
    public var authenticatedAs: String?
    /// BDAT (CHUNKING) rather than DATA.
    public var viaBDAT: Bool
    /// What the decoder noticed in the body.
    public var findings: DataFindings
}

/// Accepted messages, in order, across connections.
public struct Maildrop: Hashable, Sendable {
    public private(set) var messages: [AcceptedMessage] = []
    public init() {}

    public mutating func record(_ actions: [ServerAction]) {
        for case .deliver(let m) in actions { messages.append(m) }
    }

    public var count: Int { messages.count }
}
