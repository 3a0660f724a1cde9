/// Assembles replies from a server's byte stream (RFC 5321 §4.2, §4.2.1), incrementally.
///
/// Rules:
/// - Lines are framed strictly by `LineFramer` with the reply-line limit (§4.5.3.1.5).
/// - A line is `Reply-code [ ("-" / SP) textstring ]`: a bare code is accepted (§4.2: clients
///   must accept a code without text); `-` continues a multiline reply, SP or nothing ends it.
/// - Codes outside `%x32-35 %x30-35 %x30-39` are rejected (§4.2: "SHOULD treat as fatal").
/// - Every line of a multiline reply must carry the same code (§4.2.1).
/// - When `parseEnhancedCodes` is set, a well-formed RFC 3463 code at the start of a line's text
///   is split off into `Line.enhancedCode`, line by line (RFC 2034 §4).
/// - At most `limits.replyLines` lines per reply, so memory stays bounded.
/// - Text may hold any byte but CR and LF; it is decoded leniently (8-bit and NUL tolerated,
///   docs/catalog.md F1) because clients act on the code, not the text.
/// - A bare `334` (no SP) is read like any bare code (tolerant reading, as a client must);
///   `strictChallenges` refuses it (`.bareChallenge`, RFC 4954 §4 `continue-req`), for the
///   reply-grammar oracle, which judges what a server wrote.
/// After an error the partial reply is dropped; the client is expected to treat it as fatal.
public struct ReplyParser: Sendable {
    public var limits: SMTPLimits
    public var parseEnhancedCodes: Bool
    /// Refuse a `334` line without its SP (RFC 4954 §4); off for clients, on for the oracle.
    public var strictChallenges = false
    private var framer: LineFramer
    private var pending: [SMTPReply.Line] = []
    private var pendingCode: ReplyCode?
    /// Lines of the reply under way that `skipNext` read (it keeps no text).
    private var skippedLines = 0
    /// Where the line being read starts in the stream (for errors).
    private var lineOffset = 0

    public init(limits: SMTPLimits = .rfc, parseEnhancedCodes: Bool = true) {
        self.limits = limits
        self.parseEnhancedCodes = parseEnhancedCodes
        self.framer = LineFramer(maximumLineLength: limits.replyLine)
    }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        framer.append(bytes)
    }

    /// Contiguous bytes without the generic path (see `LineFramer.append(_:)`).
    public mutating func append(_ bytes: ArraySlice<UInt8>) { framer.append(bytes) }
    public mutating func append(_ bytes: [UInt8]) { framer.append(bytes[...]) }

    /// Bytes received but not yet part of a complete reply line.
    public var bufferedByteCount: Int { framer.bufferedByteCount }

    /// True while a multiline reply has started but not ended.
    public var isInsideMultilineReply: Bool { pendingCode != nil }

    /// Drops buffered bytes and any partial reply; returns how many bytes were dropped
    /// (the client's side of the STARTTLS boundary, RFC 3207 §4.2).
    public mutating func discardBufferedBytes() -> Int {
        pending.removeAll()
        pendingCode = nil
        skippedLines = 0
        return framer.discardBufferedBytes()
    }

    /// Removes and returns buffered bytes not yet framed, e.g. the bytes after a `220` to STARTTLS
    /// that belong to the TLS handshake (or to an attacker).
    public mutating func takeBufferedBytes() -> [UInt8] {
        framer.takeBufferedBytes()
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    public mutating func next() throws(SMTPError) -> SMTPReply? {
        while let (raw, code, isLast) = try nextLine() {
            pending.append(Self.line(raw, parseEnhancedCodes: parseEnhancedCodes))
            if isLast {
                let reply = SMTPReply(code: code, lines: pending)
                resetPartialReply()
                return reply
            }
            try continueReply(code, lines: pending.count)
        }
        return nil
    }

    /// Reads the next complete reply for its grammar alone — the same checks and errors as
    /// `next()`, no text made (the reply-grammar oracle judges every reply a server writes and
    /// keeps none): true when one ended, false when more bytes are needed.
    public mutating func skipNext() throws(SMTPError) -> Bool {
        while let (_, code, isLast) = try nextLine() {
            skippedLines += 1
            if isLast {
                resetPartialReply()
                return true
            }
            try continueReply(code, lines: skippedLines)
        }
        return false
    }

    /// The next framed line with its code and whether it ends the reply, checked against the
    /// reply it continues (§4.2.1); nil when more bytes are needed.
    private mutating func nextLine() throws(SMTPError) -> (ArraySlice<UInt8>, ReplyCode, Bool)? {
        let raw: ArraySlice<UInt8>?
        do {
            raw = try framer.next()
        } catch {
            resetPartialReply()
            throw error.code == .lineTooLong
                ? SMTPError(.replyLineTooLong, offset: error.offset, detail: error.detail) : error
        }
        guard let raw else { return nil }
        lineOffset = framer.streamOffset - raw.count - 2
        let head: (ReplyCode, Bool)
        do {
            head = try raw.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(SMTPError) in try lineHead(b) }
        } catch {
            resetPartialReply()
            throw error.shifted(by: lineOffset)
        }
        let (code, isLast) = head
        if let expected = pendingCode, expected != code {
            resetPartialReply()
            throw SMTPError(
                .inconsistentMultilineReply, offset: lineOffset,
                detail: "line with code \(code) inside a \(expected) reply"
            )
        }
        return (raw, code, isLast)
    }

    /// A line that did not end the reply, its `lines`-th: the reply goes on with `code`, within
    /// `limits.replyLines`.
    private mutating func continueReply(_ code: ReplyCode, lines: Int) throws(SMTPError) {
        if lines >= limits.replyLines {
            resetPartialReply()
            throw SMTPError(.tooManyReplyLines, offset: lineOffset, detail: "more than \(limits.replyLines) lines")
        }
        pendingCode = code
    }

    /// Parses one reply line (RFC 5321 §4.2 `Reply-line`). Returns the code, whether the line
    /// ends the reply, and its text. Offsets in errors are within the line.
    public func parseLine(_ b: UnsafeBufferPointer<UInt8>) throws(SMTPError) -> (ReplyCode, Bool, SMTPReply.Line) {
        let (code, isLast) = try lineHead(b)
        return (code, isLast, Self.line(ArraySlice(b), parseEnhancedCodes: parseEnhancedCodes))
    }

    /// A line's code and whether it ends the reply, its grammar checked (the code's digits and
    /// range, a bare 334 under `strictChallenges`, the separator). Offsets are within the line.
    func lineHead(_ b: UnsafeBufferPointer<UInt8>) throws(SMTPError) -> (ReplyCode, Bool) {
        guard b.count >= 3, ASCII.isDigit(b[0]), ASCII.isDigit(b[1]), ASCII.isDigit(b[2]) else {
            throw SMTPError(.malformedReply, offset: 0, detail: "reply line does not start with three digits: \(ASCII.escaped(b))")
        }
        let value = Int(b[0] &- ASCII.zero) * 100 + Int(b[1] &- ASCII.zero) * 10 + Int(b[2] &- ASCII.zero)
        guard let code = ReplyCode(value) else {
            throw SMTPError(.invalidReplyCode, offset: 0, detail: "reply code \(value) is outside 200–559 / x0x–x5x")
        }
        if b.count == 3 {
            if strictChallenges, value == 334 {
                throw SMTPError(.bareChallenge, offset: 3, detail: "a 334 challenge without the SP RFC 4954 §4 requires")
            }
            return (code, true)
        }
        let separator = b[3]
        guard separator == ASCII.hyphen || separator == ASCII.space else {
            throw SMTPError(.malformedReply, offset: 3, detail: "expected '-' or SP after the code, got \(ASCII.escaped([separator]))")
        }
        return (code, separator == ASCII.space)
    }

    /// The text of a line whose head `lineHead` accepted, its enhanced code split off when asked.
    static func line(_ raw: ArraySlice<UInt8>, parseEnhancedCodes: Bool) -> SMTPReply.Line {
        guard raw.count > 3 else { return SMTPReply.Line("") }
        return raw.withUnsafeBufferPointer { b in
            var text = UnsafeBufferPointer(rebasing: b[4...])
            var enhanced: EnhancedStatusCode?
            if parseEnhancedCodes, let (e, length) = EnhancedStatusCode.parsePrefix(text) {
                enhanced = e
                text = UnsafeBufferPointer(rebasing: text[min(length + 1, text.count)...])
            }
            return SMTPReply.Line(String(decoding: text, as: UTF8.self), enhancedCode: enhanced)
        }
    }

    private mutating func resetPartialReply() {
        pending = []  // the reply just made holds these lines: keeping the capacity would copy them
        pendingCode = nil
        skippedLines = 0
    }
}
