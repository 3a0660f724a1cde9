/// Every size limit the wire grammar enforces, named after the RFC section that sets it.
///
/// The defaults are the RFC values. Each limit may be raised (RFC 5321 §4.5.3.1: "extensions may
/// raise" them, and servers may accept more), never lowered below the RFC figure: a peer that
/// obeys the RFC must never be refused by smtpsim.
public struct SMTPLimits: Hashable, Sendable {
    /// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included.
    public static let rfcCommandLine = 512
    /// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
    public static let rfcReplyLine = 512
    /// RFC 5321 §4.5.3.1.6: a text line of message data is at most 1000 octets, CRLF included
    /// (the transparency dot of §4.5.2 not counted).
    public static let rfcTextLine = 1000
    /// RFC 4954 §4: "12288 octets is considered to be a sufficient line length limit" for an AUTH
    /// command or a SASL response line, CRLF included.
    public static let rfcAuthLine = 12288
    /// RFC 5321 §4.5.3.1.1: a local-part is at most 64 octets.
    public static let rfcLocalPart = 64
    /// RFC 5321 §4.5.3.1.2: a domain is at most 255 octets.
    public static let rfcDomain = 255
    /// RFC 5321 §4.5.3.1.3: a reverse- or forward-path is at most 256 octets, punctuation included.
    public static let rfcPath = 256
    /// RFC 5321 §4.5.3.1.8: a server must buffer at least 100 recipients.
    public static let rfcRecipients = 100
    /// RFC 5321 §4.5.3.1.7: a message of at least 64 KiB must be accepted.
    public static let rfcMessageSize = 64 * 1024
    /// RFC 5321 §4.2 sets no bound on the lines of a multiline reply; this one keeps a reply's
    /// memory bounded (64 lines of 512 octets) while leaving room for long EHLO lists.
    public static let defaultReplyLines = 64
    /// RFC 5321 §4.5.3.1 asks implementations to "avoid imposing fixed limits" where they can, and
    /// real servers send longer reply lines than §4.5.3.1.5's 512 (EHLO lines of 580 octets): a
    /// client reads reply lines up to this and carries on; the reply-grammar oracle still reports
    /// every line over `rfcReplyLine`.
    public static let tolerantReplyLine = 4096

    public var commandLine: Int
    public var replyLine: Int
    public var textLine: Int
    public var authLine: Int
    public var localPart: Int
    public var domain: Int
    public var path: Int
    public var recipients: Int
    public var messageSize: Int
    public var replyLines: Int

    public init(
        commandLine: Int = rfcCommandLine,
        replyLine: Int = rfcReplyLine,
        textLine: Int = rfcTextLine,
        authLine: Int = rfcAuthLine,
        localPart: Int = rfcLocalPart,
        domain: Int = rfcDomain,
        path: Int = rfcPath,
        recipients: Int = rfcRecipients,
        messageSize: Int = 10 * 1024 * 1024,
        replyLines: Int = defaultReplyLines
    ) {
        precondition(commandLine >= Self.rfcCommandLine, "RFC 5321 §4.5.3.1.4: command line limit below 512")
        precondition(replyLine >= Self.rfcReplyLine, "RFC 5321 §4.5.3.1.5: reply line limit below 512")
        precondition(textLine >= Self.rfcTextLine, "RFC 5321 §4.5.3.1.6: text line limit below 1000")
        precondition(authLine >= Self.rfcAuthLine, "RFC 4954 §4: AUTH line limit below 12288")
        precondition(localPart >= Self.rfcLocalPart, "RFC 5321 §4.5.3.1.1: local-part limit below 64")
        precondition(domain >= Self.rfcDomain, "RFC 5321 §4.5.3.1.2: domain limit below 255")
        precondition(path >= Self.rfcPath, "RFC 5321 §4.5.3.1.3: path limit below 256")
        precondition(recipients >= Self.rfcRecipients, "RFC 5321 §4.5.3.1.8: recipient limit below 100")
        precondition(messageSize >= Self.rfcMessageSize, "RFC 5321 §4.5.3.1.7: message size limit below 64 KiB")
        precondition(replyLines >= 1, "a reply has at least one line")
        self.commandLine = commandLine
        self.replyLine = replyLine
        self.textLine = textLine
        self.authLine = authLine
        self.localPart = localPart
        self.domain = domain
        self.path = path
        self.recipients = recipients
        self.messageSize = messageSize
        self.replyLines = replyLines
    }

    /// The RFC minimums (and a 10 MiB message size).
    public static let rfc = SMTPLimits()
}
