/// The one error type of SMTPCore (docs/design.md rule 4).
///
/// Compared on `code` alone, so tests and callers match on what went wrong, not on the wording.
/// `fault` keeps the peer's mistakes (bad bytes on the wire) apart from the caller's (asking the
/// library to emit something the grammar forbids). For errors in what a client sent, `reply` is
/// the reply a server should answer with; `offset` is the stream offset of the offending byte
/// where one is known. `file` and `line` say where the error was raised, for diagnostics only.
public struct SMTPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. Open set of static members over a private enum, so new codes can be added
    /// without breaking exhaustive switches in callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case lineTooLong = "line-too-long"
            case bareCarriageReturn = "bare-cr"
            case bareLineFeed = "bare-lf"
            case invalidCharacter = "invalid-character"
            case malformedReply = "malformed-reply"
            case invalidReplyCode = "invalid-reply-code"
            case inconsistentMultilineReply = "inconsistent-multiline-reply"
            case replyLineTooLong = "reply-line-too-long"
            case tooManyReplyLines = "too-many-reply-lines"
            case bareChallenge = "bare-challenge"
            case syntaxError = "syntax-error"
            case unexpectedArgument = "unexpected-argument"
            case missingArgument = "missing-argument"
            case invalidAddress = "invalid-address"
            case pathTooLong = "path-too-long"
            case invalidParameter = "invalid-parameter"
            case duplicateParameter = "duplicate-parameter"
            case utf8NotAllowed = "utf8-not-allowed"
            case authCancelled = "auth-cancelled"
            case invalidBase64 = "invalid-base64"
            case authLineTooLong = "auth-line-too-long"
            case invalidSASLMessage = "invalid-sasl-message"
            case textLineTooLong = "text-line-too-long"
            case bareLineEndingInBody = "bare-line-ending-in-body"
            case invalidChunkSize = "invalid-chunk-size"
            case invalidCapability = "invalid-capability"
        }

        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// A line exceeded its limit (RFC 5321 §4.5.3.1.4–.6). Server reply: 500 5.5.6.
        public static let lineTooLong = Code(.lineTooLong)
        /// A CR not followed by LF (RFC 5321 §2.3.8).
        public static let bareCarriageReturn = Code(.bareCarriageReturn)
        /// An LF not preceded by CR (RFC 5321 §2.3.8).
        public static let bareLineFeed = Code(.bareLineFeed)
        /// A byte the grammar forbids here (NUL, control, 8-bit outside SMTPUTF8).
        public static let invalidCharacter = Code(.invalidCharacter)
        /// A reply line that does not match `Reply-code [("-" / SP) textstring]` (RFC 5321 §4.2).
        public static let malformedReply = Code(.malformedReply)
        /// A reply code outside `%x32-35 %x30-35 %x30-39` (RFC 5321 §4.2: treat as fatal).
        public static let invalidReplyCode = Code(.invalidReplyCode)
        /// Lines of one multiline reply with different codes (RFC 5321 §4.2.1).
        public static let inconsistentMultilineReply = Code(.inconsistentMultilineReply)
        /// A reply line over 512 octets (RFC 5321 §4.5.3.1.5).
        public static let replyLineTooLong = Code(.replyLineTooLong)
        /// A multiline reply with more lines than `SMTPLimits.replyLines`.
        public static let tooManyReplyLines = Code(.tooManyReplyLines)
        /// A `334` challenge without the SP that RFC 4954 §4 requires even when the challenge is
        /// empty (`continue-req = "334" SP [base64] CRLF`); raised only by a strict reader.
        public static let bareChallenge = Code(.bareChallenge)
        /// A command whose arguments do not match its grammar. Server reply: 501 5.5.4.
        public static let syntaxError = Code(.syntaxError)
        /// Arguments given to a verb that takes none (`STARTTLS foo`, RFC 3207 §4). Reply: 501.
        public static let unexpectedArgument = Code(.unexpectedArgument)
        /// A verb that needs an argument given none (`EHLO`, `VRFY`). Reply: 501 5.5.4.
        public static let missingArgument = Code(.missingArgument)
        /// A mailbox or path that does not match RFC 5321 §4.1.2. Reply: 501 5.1.3 / 5.1.7.
        public static let invalidAddress = Code(.invalidAddress)
        /// A path, local-part or domain over its limit (RFC 5321 §4.5.3.1.1–.3). Reply: 501.
        public static let pathTooLong = Code(.pathTooLong)
        /// A malformed ESMTP parameter or value (RFC 5321 §4.1.2, RFC 1870, RFC 6152). Reply: 501 5.5.4.
        public static let invalidParameter = Code(.invalidParameter)
        /// The same ESMTP parameter twice on one command. Reply: 501 5.5.4.
        public static let duplicateParameter = Code(.duplicateParameter)
        /// UTF-8 in an address without SMTPUTF8 (RFC 6531 §3.2). Reply: 553 5.6.7.
        public static let utf8NotAllowed = Code(.utf8NotAllowed)
        /// The client answered a SASL challenge with `*` (RFC 4954 §4). Reply: 501 5.0.0.
        public static let authCancelled = Code(.authCancelled)
        /// A SASL response that is not valid base64 (RFC 4954 §4). Reply: 501 5.5.2.
        public static let invalidBase64 = Code(.invalidBase64)
        /// An AUTH line over 12288 octets (RFC 4954 §4). Reply: 500 5.5.6.
        public static let authLineTooLong = Code(.authLineTooLong)
        /// A decoded SASL message that breaks its mechanism's grammar (RFC 4616 §2). Reply: 501 5.5.2.
        public static let invalidSASLMessage = Code(.invalidSASLMessage)
        /// A message text line over 1000 octets (RFC 5321 §4.5.3.1.6).
        public static let textLineTooLong = Code(.textLineTooLong)
        /// A bare CR or LF in a message body handed to the strict dot-stuffer (RFC 5321 §2.3.8).
        public static let bareLineEndingInBody = Code(.bareLineEndingInBody)
        /// A BDAT chunk size that is not a number or does not fit (RFC 3030 §2). Reply: 501 5.5.4.
        public static let invalidChunkSize = Code(.invalidChunkSize)
        /// An EHLO reply line that is not an `ehlo-line` (RFC 5321 §4.1.1.1).
        public static let invalidCapability = Code(.invalidCapability)

        /// Stable kebab-case name, used in traces, reports and scenario files.
        public var name: String { backing.rawValue }
        public var description: String { backing.rawValue }
    }

    /// Who is to blame.
    public enum Fault: String, Hashable, Sendable {
        /// The bytes came from the peer and break the protocol.
        case peer
        /// The caller asked for something the grammar forbids (e.g. CR LF inside an EHLO domain).
        case local
    }

    public let code: Code
    public let fault: Fault
    /// The reply a server should send for this error, when the error is in a client's input.
    public let reply: SMTPReply?
    /// Stream offset of the offending byte, when known.
    public let offset: Int?
    /// Human-readable detail (what was seen).
    public let detail: String
    public let file: String
    public let line: Int

    @inline(never)
    public init(
        _ code: Code, fault: Fault = .peer, reply: SMTPReply? = nil, offset: Int? = nil, detail: String = "",
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.fault = fault
        self.reply = reply
        self.offset = offset
        self.detail = detail
        self.file = file
        self.line = line
    }

    /// The same error with its offset moved by `base` (parsers report offsets within a line;
    /// framers add the line's position in the stream).
    public func shifted(by base: Int) -> SMTPError {
        SMTPError(code, fault: fault, reply: reply, offset: offset.map { $0 + base }, detail: detail, file: file, line: line)
    }

    /// The same error with another reply for the server to send.
    public func replying(_ reply: SMTPReply) -> SMTPError {
        SMTPError(code, fault: fault, reply: reply, offset: offset, detail: detail, file: file, line: line)
    }

    public static func == (a: SMTPError, b: SMTPError) -> Bool { a.code == b.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        var s = "\(code)"
        if !detail.isEmpty { s += ": \(detail)" }
        if let offset { s += " (at offset \(offset))" }
        return s
    }
}
