import SMTPCore

/// When the client uses TLS (RFC 3207 §4.1, RFC 7435, RFC 8461).
public enum TLSPolicy: Hashable, Sendable {
    /// Never STARTTLS: plaintext only (a baseline, and what stripping reduces a client to).
    case plaintext
    /// Encrypt when offered; continue unencrypted when STARTTLS is missing or refused; certificate
    /// problems do not stop delivery (RFC 7435).
    case opportunistic
    /// STARTTLS and a verified certificate, else defer; never a byte of AUTH or envelope in
    /// plaintext.
    case required
    /// As `required`, with the server's certificate pinned (the driver's TLS trust says which).
    case pinned
    /// MTA-STS given as a value (no DNS): the MX must match a pattern and present a valid PKIX
    /// certificate over STARTTLS (RFC 8461 §4); `enforce` defers on failure, `testing` delivers
    /// anyway and reports (RFC 8461 §5).
    case mtaSTS(MTASTSPolicy)

    /// True when a failed STARTTLS or an unverified certificate must stop delivery.
    public var demandsVerifiedTLS: Bool {
        switch self {
        case .plaintext, .opportunistic: false
        case .required, .pinned: true
        case .mtaSTS(let p): p.mode == .enforce
        }
    }

    public var attemptsTLS: Bool {
        if case .plaintext = self { return false }
        return true
    }
}

/// An MTA-STS policy (RFC 8461 §3.2) as a value.
public struct MTASTSPolicy: Hashable, Sendable {
    public enum Mode: String, Hashable, Sendable, Codable { case enforce, testing, none }
    public var mode: Mode
    /// `mx:` patterns; a leading `*.` matches exactly one left-most label (RFC 8461 §4.1).
    public var mxPatterns: [String]

    public init(mode: Mode, mxPatterns: [String]) {
        self.mode = mode
        self.mxPatterns = mxPatterns
    }

    /// RFC 8461 §4.1 matching, case-insensitive.
    public func matches(_ host: String) -> Bool {
        let host = host.lowercased()
        return mxPatterns.contains { raw in
            let pattern = raw.lowercased()
            if pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)  // ".example.net"
                guard host.hasSuffix(suffix) else { return false }
                let label = host.dropLast(suffix.count)
                return !label.isEmpty && !label.contains(".")
            }
            return pattern == host
        }
    }
}

/// Known client bug classes, reproducible on purpose (docs/catalog.md). All off by default.
public enum ClientFlaw: String, CaseIterable, Hashable, Sendable, Codable {
    /// Keeps reply bytes buffered at the 220 to STARTTLS and reads them after the handshake as if
    /// the TLS server sent them (response injection, docs/catalog.md D3; Mutt #248, CVE-2021-38371 class).
    case keepsBufferedRepliesAcrossStartTLS = "keeps-buffered-replies-across-starttls"
    /// Keeps using the capability list learnt before TLS (RFC 3207 §4.2, docs/catalog.md D4).
    case keepsPreTLSCapabilities = "keeps-pre-tls-capabilities"
    /// Goes on in plaintext when STARTTLS is missing or refused even under a required policy
    /// (docs/catalog.md B1/B2).
    case fallsBackToPlaintext = "falls-back-to-plaintext"
    /// Authenticates before STARTTLS when AUTH is offered in plaintext (docs/catalog.md H6).
    case sendsAuthBeforeTLS = "sends-auth-before-tls"
    /// Accepts an unverified certificate under a policy that requires one (docs/catalog.md C1–C3).
    case ignoresCertificateErrors = "ignores-certificate-errors"
    /// Sends bare LF line endings from the message as they are (outbound smuggling, docs/catalog.md G3).
    case emitsBareLF = "emits-bare-lf"
    /// Sends message data without doubling leading dots (RFC 5321 §4.5.2): a relay that turns a
    /// BDAT body into DATA as it is, or an attacker's own tool (docs/catalog.md G3).
    case skipsDotStuffing = "skips-dot-stuffing"
    /// After the server's close_notify, goes on reading the stream as plaintext and acting on
    /// the replies it finds there (libetpan issue 386, cyrus-imapd issue 4785; docs/catalog.md I8).
    case readsAfterCloseNotify = "reads-after-close-notify"
    /// Counts a message delivered to every recipient once its data is accepted, whatever a
    /// recipient's RCPT reply said: a recipient deferred with 4yz is lost without a word and never
    /// retried (RFC 5321 §4.2.5, §6.1; docs/catalog.md F7).
    case countsDeferredRecipientsAsDelivered = "counts-deferred-recipients-as-delivered"
}

/// Per-command reply timeouts in nanoseconds (RFC 5321 §4.5.3.2 minimums).
public struct ClientTimeouts: Hashable, Sendable, Codable {
    static let minute: Int64 = 60_000_000_000
    /// §4.5.3.2.1: 5 minutes for the greeting.
    public var greeting = 5 * minute
    /// EHLO, HELO, STARTTLS, AUTH, RSET, QUIT: 5 minutes like MAIL.
    public var command = 5 * minute
    /// The TLS handshake after 220 (not in RFC 5321; bounded so a stall cannot hang the client).
    public var tlsHandshake = 2 * minute
    /// §4.5.3.2.2 and .3: MAIL and RCPT, 5 minutes.
    public var mailOrRcpt = 5 * minute
    /// §4.5.3.2.4: DATA initiation, 2 minutes.
    public var dataInitiation = 2 * minute
    /// §4.5.3.2.6: the reply after the final dot, 10 minutes.
    public var dataTermination = 10 * minute
    public init() {}

    /// The same limit for every wait (a tool talking to a real server with `--timeout`).
    public init(uniform nanoseconds: Int64) {
        greeting = nanoseconds
        command = nanoseconds
        tlsHandshake = nanoseconds
        mailOrRcpt = nanoseconds
        dataInitiation = nanoseconds
        dataTermination = nanoseconds
    }
}

/// Retry schedule (RFC 5321 §4.5.4.1: delay at least 30 minutes, give up after 4–5 days).
public struct RetryPolicy: Hashable, Sendable, Codable {
    /// Delay between attempts, nanoseconds.
    public var delay: Int64 = 30 * 60_000_000_000
    /// Attempts in all (the first one included).
    public var maximumAttempts = 5
    public init(delay: Int64 = 30 * 60_000_000_000, maximumAttempts: Int = 5) {
        self.delay = delay
        self.maximumAttempts = maximumAttempts
    }
}

/// Credentials for AUTH (RFC 4954), used only inside TLS unless a flaw says otherwise.
public struct Credentials: Hashable, Sendable {
    public var username: String
    public var password: String
    /// Preference order among what the server offers.
    public var mechanisms: [String] = ["PLAIN", "LOGIN"]

    public init(username: String, password: String, mechanisms: [String] = ["PLAIN", "LOGIN"]) {
        self.username = username
        self.password = password
        self.mechanisms = mechanisms
    }
}

public struct ClientConfiguration: Hashable, Sendable {
    /// The name sent in EHLO/HELO.
    public var heloName = "client.example.test"
    /// The MX host the client connects to (for MTA-STS matching and reports).
    public var serverName = "mx.example.test"
    public var policy: TLSPolicy = .opportunistic
    /// Implicit TLS (RFC 8314 §3): the handshake starts when the connection opens and the
    /// greeting is awaited inside TLS. Nothing is ever sent in the clear: a handshake that fails
    /// (a plaintext greeting among the causes) defers the messages with its RFC 8460 result type,
    /// whatever the policy; the policy still decides what an unverified certificate means.
    public var implicitTLS = false
    public var credentials: Credentials?
    /// Use PIPELINING when offered (RFC 2920).
    public var usePipelining = true
    /// Pipeline even when PIPELINING is not offered (`pipelining: always`: testing a server's
    /// handling of a client that does, RFC 2920 §3.1).
    public var pipelinesRegardless = false
    /// Under the opportunistic policy, retry a message in plaintext (a new connection without
    /// STARTTLS) after a TLS handshake failed, as Postfix does at `smtp_tls_security_level =
    /// may` (RFC 7435 §4.1). Off: the message waits for the next attempt with TLS.
    public var plaintextRetryAfterTLSFailure = false
    /// Close instead of sending QUIT (`skip-quit`).
    public var skipsQuit = false
    /// Rules over the client's answers, first match wins (`ClientRule`).
    public var rules: [ClientRule] = []
    /// Fixes the rules' probabilities (the simulator derives it from the run's seed).
    public var ruleSeed: UInt64 = 0
    /// Use BDAT when CHUNKING is offered (RFC 3030).
    public var useChunking = false
    /// With BDAT, the message goes in chunks of at most this many octets (the last one `LAST`);
    /// nil: one chunk (RFC 3030 §2 lets the client choose).
    public var bdatChunkSize: Int?
    /// Fall back to HELO when EHLO is refused (never under a policy that demands TLS: HELO has no
    /// STARTTLS, docs/catalog.md B3).
    public var allowHELOFallback = true
    /// How bare CR/LF in a message are sent: normalised by default (docs/catalog.md G3).
    public var lineEndings: DotStuffer.LineEndingPolicy = .normalize
    public var timeouts = ClientTimeouts()
    public var retry = RetryPolicy()
    public var flaws: Set<ClientFlaw> = []

    public init() {}

    public func has(_ flaw: ClientFlaw) -> Bool { flaws.contains(flaw) }
}

/// A message to deliver.
public struct OutgoingMessage: Hashable, Sendable {
    public var id: String
    public var reversePath: ReversePath
    public var recipients: [ForwardPath]
    /// The message as the user wrote it; stuffed and terminated by the client.
    public var body: [UInt8]
    public var parameters: MailParameters

    public init(id: String, from: ReversePath, to recipients: [ForwardPath], body: [UInt8], parameters: MailParameters = MailParameters()) {
        self.id = id
        self.reversePath = from
        self.recipients = recipients
        self.body = body
        self.parameters = parameters
    }
}
