/// Encodes a message body for DATA (RFC 5321 §4.5.2, §4.1.1.4): doubles a leading "." on every
/// line, ends the body with CRLF when it does not, and appends the end-of-data line ".\r\n".
///
/// What happens to a bare CR or LF in the body (the root of outbound SMTP smuggling,
/// docs/catalog.md G3) is the caller's `LineEndings.Policy`: reject (strict, the default),
/// normalise to CRLF, or pass through (flaw profiles only). Lines are split by `LineEndings`, the
/// one reader of line endings that BDAT chunking and the oracles use too.
public struct DotStuffer: Sendable {
    public typealias LineEndingPolicy = LineEndings.Policy

    public var lineEndings: LineEndingPolicy
    /// Text-line limit, CRLF included, transparency dot not counted (RFC 5321 §4.5.3.1.6);
    /// `nil` to send long lines anyway.
    public var textLineLimit: Int?
    /// Doubles a line's leading dot (RFC 5321 §4.5.2); false only for flaw profiles (a relay
    /// that forwards a BDAT body with DATA as it is: a line "." in it ends the data early).
    public var stuffsDots: Bool

    public init(lineEndings: LineEndingPolicy = .reject, textLineLimit: Int? = SMTPLimits.rfcTextLine, stuffsDots: Bool = true) {
        self.lineEndings = lineEndings
        self.textLineLimit = textLineLimit
        self.stuffsDots = stuffsDots
    }

    /// The DATA payload for `body`, terminator included.
    public func encode(_ body: [UInt8]) throws(SMTPError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + body.count / 64 + 5)
        try body.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(SMTPError) in
            try encode(b, into: &out)
        }
        return out
    }

    public func encode(_ body: String) throws(SMTPError) -> [UInt8] { try encode(Array(body.utf8)) }

    private func encode(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) throws(SMTPError) {
        var atLineStart = true
        var lineLength = 0  // octets of the current wire line so far, stuffing dot not counted
        try LineEndings.forEachLine(in: b) { (start: Int, end: Int, terminator: LineEndings.Terminator) throws(SMTPError) in
            if stuffsDots, atLineStart, end > start, b[start] == ASCII.dot { out.append(ASCII.dot) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<end]))
            lineLength += end - start
            switch terminator {
            case .end:
                atLineStart = false
            case .crlf:
                try checkLength(lineLength, at: end)
                out.append(ASCII.cr)
                out.append(ASCII.lf)
                atLineStart = true
                lineLength = 0
            case .bareCR, .bareLF:
                switch lineEndings {
                case .reject:
                    throw LineEndings.bareLineEnding(terminator, at: end)
                case .normalize:
                    try checkLength(lineLength, at: end)
                    out.append(ASCII.cr)
                    out.append(ASCII.lf)
                    atLineStart = true
                    lineLength = 0
                case .passThrough:
                    out.append(terminator == .bareCR ? ASCII.cr : ASCII.lf)
                    lineLength += 1
                    atLineStart = false
                }
            }
        }
        // RFC 5321 §4.1.1.4: a body that does not end in CRLF gets one before the final dot.
        if !atLineStart {
            try checkLength(lineLength, at: b.count)
            out.append(ASCII.cr)
            out.append(ASCII.lf)
        }
        out.append(contentsOf: [ASCII.dot, ASCII.cr, ASCII.lf])
    }

    private func checkLength(_ length: Int, at offset: Int) throws(SMTPError) {
        guard let limit = textLineLimit, length + 2 > limit else { return }
        throw SMTPError(
            .textLineTooLong, fault: .local, offset: offset,
            detail: "text line of \(length + 2) octets, limit \(limit) (RFC 5321 §4.5.3.1.6)"
        )
    }
}
