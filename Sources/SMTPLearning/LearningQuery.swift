import SMTPCore
import EndpointHosting

/// One query's connection, input by input, as both systems under learning see it
/// (`InMemoryServer`, `SMTPNet.SocketServer`): what each input asks of the connection, and the
/// output it gets from what came back. Sans-IO: the caller carries out each `Step` on its own
/// connection and hands the answers in.
public struct LearningQuery: Sendable {
    /// The connection is over: every input from now on outputs `closed`.
    public private(set) var over = false
    /// The learner ended its TLS session: it writes in the clear, and a handshake is `tls-ended`.
    public private(set) var tlsEnded = false
    /// Cleartext replies already given as outputs (the caller hands in all it has read).
    private var clearSeen = 0

    public init() {}

    public enum Step: Sendable {
        /// Nothing to do on the connection: the output is this.
        case answered(String)
        /// The learner's TLS handshake (then `handshook`).
        case handshake
        /// A TLS session event from the learner (then `ended`).
        case end(TLSSessionEvent)
        /// These octets, inside TLS if it is up.
        case send([UInt8])
        /// These octets on the stream as they are (after the learner ended its TLS session).
        case sendRaw([UInt8])
    }

    /// What `input` asks of a connection that is `open` (or not) and has TLS up (or not).
    public mutating func step(_ input: LearningInput, open: Bool, tlsActive: Bool) -> Step {
        if over || !open {
            over = true
            return .answered("closed")
        }
        switch input {
        case .handshake where tlsEnded: return .answered("tls-ended")  // no new session on this connection
        case .handshake where tlsActive: return .answered("tls-active")  // a second handshake inside TLS is not the learner's to start
        case .handshake: return .handshake
        case .closeNotify: return .end(.closeNotify)
        case .alert: return .end(.alert(.badRecordMAC))
        case .ehlo, .helo, .mail, .rcpt, .data, .body, .bodyBareLF, .bdat, .rset, .noop, .quit, .auth, .starttls, .starttlsPipelined:
            return tlsEnded ? .sendRaw(input.octets ?? []) : .send(input.octets ?? [])
        }
    }

    /// The handshake's outcome, as the first part of its output; a failed one ends the connection.
    public mutating func handshook(_ established: Bool) -> String {
        over = !established
        return established ? "tls" : "tls-failed"
    }

    /// Whether the TLS session event was sent; the part of the output it makes, if any.
    public mutating func ended(_ sent: Bool) -> String? {
        if sent { tlsEnded = true }
        return sent ? nil : "no-tls"
    }

    /// The connection broke under the input.
    public mutating func broke() { over = true }

    /// The input's output: `parts` from its step, the replies read in the session, the cleartext
    /// replies read after the TLS session ended (all so far: the new ones are taken), and
    /// whether the connection is closed; `timeout` when nothing came.
    public mutating func output(_ parts: [String], replies: [SMTPReply], clear: [SMTPReply], closed: Bool) -> String {
        var all = parts + replies.map(LearningInput.output)
        if clear.count > clearSeen {
            all += clear[clearSeen...].map { "clear:" + LearningInput.output($0) }
            clearSeen = clear.count
        }
        if closed { all.append("closed") }
        return all.isEmpty ? "timeout" : all.joined(separator: "+")
    }
}
