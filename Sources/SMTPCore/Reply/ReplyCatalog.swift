/// The replies smtpsim's server sends, with the codes and enhanced codes their RFCs give.
///
/// One place for reply texts (not inline strings scattered through the machine).
/// Enhanced codes are attached here; a server that has not negotiated ENHANCEDSTATUSCODES sends
/// `withoutEnhancedCodes`. RFC 2034 §4 exempts the greeting and EHLO/HELO replies, and 354/334
/// are intermediate replies, so those carry none.
extension SMTPReply {
    private static func code(_ value: Int) -> ReplyCode { ReplyCode(checked: value) }

    // MARK: Connection (RFC 5321 §3.1, §3.8, §4.2.3)

    /// 220: the greeting.
    public static func greeting(_ host: String, text: String = "ESMTP smtpsim") -> SMTPReply {
        SMTPReply(code(220), nil, text.isEmpty ? host : "\(host) \(text)")
    }
    /// 221: closing after QUIT.
    public static func closing(_ host: String) -> SMTPReply {
        SMTPReply(code(221), EnhancedStatusCode(2, 0, 0), "\(host) Service closing transmission channel")
    }
    /// 421: the service is shutting down; may be sent at any time (RFC 5321 §3.8).
    public static func serviceNotAvailable(_ host: String) -> SMTPReply {
        SMTPReply(code(421), EnhancedStatusCode(4, 3, 2), "\(host) Service not available, closing transmission channel")
    }
    /// 421 4.4.2: idle timeout (RFC 5321 §4.5.3.2.7).
    public static func timeout(_ host: String) -> SMTPReply {
        SMTPReply(code(421), EnhancedStatusCode(4, 4, 2), "\(host) Error: timeout exceeded")
    }

    // MARK: Generic outcomes (RFC 5321 §4.2.2, §4.2.3)

    public static let ok = SMTPReply(code(250), EnhancedStatusCode(2, 0, 0), "OK")
    public static let senderOK = SMTPReply(code(250), EnhancedStatusCode(2, 1, 0), "Sender OK")
    public static let recipientOK = SMTPReply(code(250), EnhancedStatusCode(2, 1, 5), "Recipient OK")
    public static let resetOK = SMTPReply(code(250), EnhancedStatusCode(2, 0, 0), "Reset state")
    public static func messageAccepted(queueID: String) -> SMTPReply {
        SMTPReply(code(250), EnhancedStatusCode(2, 0, 0), "OK: queued as \(queueID)")
    }
    public static func chunkAccepted(octets: Int) -> SMTPReply {
        SMTPReply(code(250), EnhancedStatusCode(2, 0, 0), "\(octets) octets received")
    }
    /// 354: go ahead with the message data.
    public static let startMailInput = SMTPReply(code(354), nil, "Start mail input; end with <CRLF>.<CRLF>")
    /// 252: VRFY answered without verifying (RFC 5321 §3.5.3, §7.3).
    public static let cannotVerify = SMTPReply(
        code(252), EnhancedStatusCode(2, 1, 5), "Cannot VRFY user, but will accept message and attempt delivery"
    )
    /// 214: HELP.
    public static let help = SMTPReply(
        code(214), EnhancedStatusCode(2, 0, 0), "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH"
    )

    // MARK: Syntax and sequence errors (RFC 5321 §4.2.2, §4.3.2)

    public static let commandUnrecognized = SMTPReply(code(500), EnhancedStatusCode(5, 5, 2), "Command not recognized")
    public static let lineTooLong = SMTPReply(code(500), EnhancedStatusCode(5, 5, 6), "Line too long")
    public static let bareLineEnding = SMTPReply(
        code(500), EnhancedStatusCode(5, 5, 2), "Bare <CR> or <LF> is not a line ending (RFC 5321 2.3.8)"
    )
    public static let invalidCharacters = SMTPReply(code(500), EnhancedStatusCode(5, 5, 2), "Invalid characters in command")
    public static let syntaxError = SMTPReply(code(501), EnhancedStatusCode(5, 5, 4), "Syntax error in parameters or arguments")
    public static let noParametersAllowed = SMTPReply(code(501), EnhancedStatusCode(5, 5, 4), "Syntax error (no parameters allowed)")
    public static let badSenderAddress = SMTPReply(code(501), EnhancedStatusCode(5, 1, 7), "Bad sender address syntax")
    public static let badRecipientAddress = SMTPReply(code(501), EnhancedStatusCode(5, 1, 3), "Bad recipient address syntax")
    public static let senderPathTooLong = SMTPReply(code(501), EnhancedStatusCode(5, 1, 7), "Path too long")
    public static let recipientPathTooLong = SMTPReply(code(501), EnhancedStatusCode(5, 1, 3), "Path too long")
    public static let commandNotImplemented = SMTPReply(code(502), EnhancedStatusCode(5, 5, 1), "Command not implemented")
    public static let badSequence = SMTPReply(code(503), EnhancedStatusCode(5, 5, 1), "Bad sequence of commands")
    public static let parameterNotImplemented = SMTPReply(code(504), EnhancedStatusCode(5, 5, 4), "Command parameter not implemented")
    /// 555: RFC 5321 §4.1.1.11, unknown MAIL/RCPT parameters.
    public static let parametersNotRecognized = SMTPReply(
        code(555), EnhancedStatusCode(5, 5, 4), "MAIL FROM/RCPT TO parameters not recognized or not implemented"
    )

    // MARK: Transaction limits (RFC 5321 §4.5.3.1.10, RFC 1870 §6, RFC 6531 §3.5)

    /// 452, not 552: RFC 5321 §4.5.3.1.10.
    public static let tooManyRecipients = SMTPReply(code(452), EnhancedStatusCode(4, 5, 3), "Too many recipients")
    public static let messageTooBig = SMTPReply(
        code(552), EnhancedStatusCode(5, 3, 4), "Message size exceeds fixed maximum message size"
    )
    public static let insufficientStorage = SMTPReply(code(452), EnhancedStatusCode(4, 3, 1), "Insufficient system storage")
    public static let utf8NotAllowed = SMTPReply(
        code(553), EnhancedStatusCode(5, 6, 7), "Non-ASCII address requires SMTPUTF8"
    )
    public static let bareLineEndingInData = SMTPReply(
        code(550), EnhancedStatusCode(5, 6, 0), "Message contains bare <CR> or <LF> (RFC 5321 2.3.8)"
    )
    public static let textLineTooLong = SMTPReply(code(500), EnhancedStatusCode(5, 5, 6), "Message line too long")
    public static let localError = SMTPReply(code(451), EnhancedStatusCode(4, 3, 0), "Requested action aborted: local error")
    public static let transactionFailed = SMTPReply(code(554), EnhancedStatusCode(5, 0, 0), "Transaction failed")

    // MARK: STARTTLS (RFC 3207 §4, §4.1)

    public static let readyToStartTLS = SMTPReply(code(220), EnhancedStatusCode(2, 0, 0), "Ready to start TLS")
    public static let tlsNotAvailable = SMTPReply(
        code(454), EnhancedStatusCode(4, 7, 0), "TLS not available due to temporary reason"
    )
    public static let mustIssueStartTLS = SMTPReply(code(530), EnhancedStatusCode(5, 7, 0), "Must issue a STARTTLS command first")
    public static let lackOfSecurity = SMTPReply(
        code(554), EnhancedStatusCode(5, 7, 0), "Command refused due to lack of security"
    )
    /// STARTTLS inside TLS (RFC 3207 §4.2; 502 as Dovecot answers it).
    public static let alreadyInTLS = SMTPReply(code(502), EnhancedStatusCode(5, 5, 1), "TLS already active")

    // MARK: AUTH (RFC 4954 §4, §6)

    public static func authChallenge(_ base64: String) -> SMTPReply { SMTPReply(code(334), nil, base64) }
    public static let authSucceeded = SMTPReply(code(235), EnhancedStatusCode(2, 7, 0), "Authentication successful")
    public static let authFailed = SMTPReply(code(535), EnhancedStatusCode(5, 7, 8), "Authentication credentials invalid")
    public static let authCancelled = SMTPReply(code(501), EnhancedStatusCode(5, 0, 0), "Authentication cancelled")
    public static let authInvalidBase64 = SMTPReply(code(501), EnhancedStatusCode(5, 5, 2), "Cannot decode response")
    public static let authLineTooLong = SMTPReply(
        code(500), EnhancedStatusCode(5, 5, 6), "Authentication Exchange line is too long"
    )
    public static let authMechanismUnknown = SMTPReply(
        code(504), EnhancedStatusCode(5, 5, 4), "Unrecognized authentication type"
    )
    public static let authEncryptionRequired = SMTPReply(
        code(538), EnhancedStatusCode(5, 7, 11), "Encryption required for requested authentication mechanism"
    )
    /// RFC 8689 §5: REQUIRETLS cannot be honoured.
    public static let requireTLSNotPossible = SMTPReply(
        code(550), EnhancedStatusCode(5, 7, 30), "REQUIRETLS support required"
    )
}
