import SMTPCore

/// Known bug classes the server can reproduce on purpose, so oracles and scenarios can prove they
/// catch them. All off by default; each cites what it reproduces (docs/catalog.md).
public enum ServerFlaw: String, CaseIterable, Hashable, Sendable, Codable {
    /// Keeps plaintext pipelined behind STARTTLS and executes it inside TLS (CVE-2011-0411,
    /// docs/catalog.md D1/D2).
    case keepsPlaintextAcrossStartTLS = "keeps-plaintext-across-starttls"
    /// Ends DATA at `<LF>.<LF>`, `<LF>.<CR><LF>` or `<CR><LF>.<LF>` (SMTP smuggling,
    /// CVE-2023-51764 class, docs/catalog.md G2).
    case acceptsBareLFEndOfData = "accepts-bare-lf-end-of-data"
    /// Keeps the AUTH identity across the STARTTLS reset (session fixation, docs/catalog.md D5).
    case keepsAuthAcrossStartTLS = "keeps-auth-across-starttls"
    /// Lists STARTTLS again in the EHLO reply inside TLS (RFC 3207 §4.2, docs/catalog.md B6).
    case advertisesStartTLSAfterTLS = "advertises-starttls-after-tls"
    /// Offers and accepts AUTH PLAIN/LOGIN before TLS (RFC 4954 §4 note, docs/catalog.md H6).
    case offersAuthPlainBeforeTLS = "offers-auth-plain-before-tls"
    /// After the client's close_notify, goes on reading the stream as plaintext in whatever state
    /// it was, mid-DATA or mid-BDAT too (CVE-2026-45185 "Dead.Letter", docs/catalog.md I1, I2).
    case readsPlaintextAfterCloseNotify = "reads-plaintext-after-close-notify"
    /// After a fatal alert or an unreadable record, goes on reading the stream as plaintext
    /// instead of ending the connection (RFC 8446 §6.2, docs/catalog.md I5).
    case ignoresFatalAlerts = "ignores-fatal-alerts"

    /// The data terminators a server with `acceptsBareLFEndOfData` honours.
    public static let lenientTerminators: [SmugglingVariant] = [.lfLF, .lfCRLF, .crlfLF]
}

/// Timeouts of the server, in nanoseconds of simulated time (RFC 5321 §4.5.3.2.7: at least 5
/// minutes waiting for the next command).
public struct ServerTimeouts: Hashable, Sendable, Codable {
    /// The wait for a command line to complete, from the last one (RFC 5321 §4.5.3.2.7): a
    /// command line trickled an octet at a time does not put it off (Postfix's
    /// `smtpd_per_record_deadline`).
    public var command: Int64 = 5 * 60 * 1_000_000_000
    /// RFC 5321 §4.5.3.2.7 also applies while message data trickles in.
    public var data: Int64 = 5 * 60 * 1_000_000_000
    /// Message data puts the data timeout off only in steps of this many octets (a minimum
    /// data rate of this per timeout: Postfix's `smtpd_min_data_rate`; 4,096 per 10 s under
    /// `serve`'s stress timeout is about its 500 octets/s).
    public var dataProgressOctets = 4096
    public init() {}
}

/// Everything about a server that does not change per connection.
public struct ServerConfiguration: Hashable, Sendable {
    public var hostname = "mx.example.test"
    /// Greeting text lines after the host name; several make a multiline 220.
    public var greeting: [String] = ["ESMTP smtpsim"]
    /// Delay before the greeting (postscreen / greet_pause style), in nanoseconds; 0 for none.
    public var greetingDelay: Int64 = 0
    /// Extensions advertised before TLS. STARTTLS belongs here when TLS is offered.
    public var extensionsBeforeTLS: [Capability] = [.pipelining, .size(10 * 1024 * 1024), .eightBitMIME, .enhancedStatusCodes, .startTLS, .chunking]
    /// Extensions advertised inside TLS (STARTTLS is never listed there unless a flaw says so).
    /// AUTH is added from `authMechanisms`.
    public var extensionsAfterTLS: [Capability] = [.pipelining, .size(10 * 1024 * 1024), .eightBitMIME, .enhancedStatusCodes, .chunking]
    /// False: STARTTLS is answered with 454 4.7.0 (RFC 3207 §4).
    public var tlsAvailable = true
    /// Implicit TLS (RFC 8314 §3): the handshake starts when the connection opens, the greeting
    /// is the first thing said inside TLS, and the EHLO reply lists `extensionsAfterTLS` (never
    /// STARTTLS, unless a flaw says so).
    public var implicitTLS = false
    /// Refuse everything but NOOP, EHLO, STARTTLS and QUIT before TLS with 530 5.7.0
    /// (RFC 3207 §4, non-public servers only).
    public var requireTLS = false
    /// SASL mechanisms offered (inside TLS, or before it with the flaw).
    public var authMechanisms: [String] = ["PLAIN", "LOGIN"]
    /// username → password.
    public var credentials: [String: String] = [:]
    /// Refuse MAIL until the client authenticated (a submission server).
    public var requireAuthentication = false
    /// The reply to AUTH before TLS: 530 5.7.0 "Must issue a STARTTLS command first" (RFC 3207
    /// §4), or 538 5.7.11 "Encryption required for requested authentication mechanism" (RFC 4954 §6).
    public var authBeforeTLSReply: AuthBeforeTLSReply = .mustStartTLS

    public enum AuthBeforeTLSReply: String, Hashable, Sendable, Codable {
        case mustStartTLS = "530"
        case encryptionRequired = "538"
    }
    /// Recipients answered with 550 5.1.1 (everyone else is accepted).
    public var rejectedRecipients: [String] = []
    /// Refuse messages holding a bare CR or LF with 550 5.6.0 (chasquid 1.13, Postfix
    /// `smtpd_forbid_bare_newline`); false accepts them as they came.
    public var rejectBareLineEndings = true
    public var limits = SMTPLimits()
    public var timeouts = ServerTimeouts()
    public var flaws: Set<ServerFlaw> = []
    /// Rules over the compliant behaviour, first match wins (`ServerRule`).
    public var rules: [ServerRule] = []
    /// Fixes the rules' probabilities (the simulator derives it from the run's seed; `serve
    /// --seed` sets it).
    public var ruleSeed: UInt64 = 0

    public init() {}

    public func has(_ flaw: ServerFlaw) -> Bool { flaws.contains(flaw) }

    /// The SIZE limit advertised (and enforced), or the message-size limit.
    var maximumMessageSize: Int {
        for case .size(let n?) in extensionsBeforeTLS + extensionsAfterTLS where n > 0 { return Int(clamping: n) }
        return limits.messageSize
    }
}
