/// Encodes a message body for DATA (RFC 5321 §4.5.2, §4.1.1.4): doubles a leading "." on every
/// line, ends the body with CRLF when it does not, and appends the end-of-data line ".\r\n".
///
/// What happens to a bare CR or LF in the body (the root of outbound SMTP smuggling, docs/catalog.md G3)
/// is the caller's choice, `LineEndingPolicy`:
/// - `.reject` (strict, the default): an error with the offset (RFC 5321 §2.3.8: clients "MUST NOT
///   transmit" them);
/// - `.normalize`: each bare CR, bare LF becomes CRLF, so no pseudo end-of-data reaches the wire;
/// - `.passThrough`: sent as is (what a vulnerable relay does; for flaw profiles only).
public struct DotStuffer: Sendable {
    public enum LineEndingPolicy: String, Hashable, Sendable, CaseIterable {
        case reject
        case normalize
        case passThrough = "pass-through"
    }

    public var lineEndings: LineEndingPolicy
    /// Text-line limit, CRLF included, transparency dot not counted (RFC 5321 §4.5.3.1.6);
    /// `nil` to send long lines anyway.
    public var textLineLimit: Int?

    public init(lineEndings: LineEndingPolicy = .reject, textLineLimit: Int? = SMTPLimits.rfcTextLine) {
        self.lineEndings = lineEndings
        self.textLineLimit = textLineLimit
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

    private enum Terminator { case crlf, bareCR, bareLF, end }

    private func encode(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) throws(SMTPError) {
        let n = b.count
        var i = 0
        var atLineStart = true
        var lineLength = 0  // octets of the current wire line so far, stuffing dot not counted
        if let p = b.baseAddress {
            while i < n {
                // The segment [i, end) runs to the next CR or LF; classify what ends it.
                let lf = ByteSearch.first(ASCII.lf, in: p, from: i, to: n) ?? n
                let end: Int
                let terminator: Terminator
                if let cr = ByteSearch.first(ASCII.cr, in: p, from: i, to: lf) {
                    end = cr
                    terminator = cr == lf - 1 && lf < n ? .crlf : .bareCR
                } else {
                    end = lf
                    terminator = lf < n ? .bareLF : .end
                }
                if atLineStart, end > i, p[i] == ASCII.dot { out.append(ASCII.dot) }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<end]))
                lineLength += end - i
                switch terminator {
                case .end:
                    i = n
                    atLineStart = false
                    continue
                case .crlf:
                    try checkLength(lineLength, at: end)
                    out.append(ASCII.cr)
                    out.append(ASCII.lf)
                    i = end + 2
                    atLineStart = true
                    lineLength = 0
                case .bareCR, .bareLF:
                    let byte = terminator == .bareCR ? ASCII.cr : ASCII.lf
                    switch lineEndings {
                    case .reject:
                        throw SMTPError(
                            .bareLineEndingInBody, fault: .local, offset: end,
                            detail: "bare \(terminator == .bareCR ? "CR" : "LF") in message body (RFC 5321 §2.3.8)"
                        )
                    case .normalize:
                        try checkLength(lineLength, at: end)
                        out.append(ASCII.cr)
                        out.append(ASCII.lf)
                        atLineStart = true
                        lineLength = 0
                    case .passThrough:
                        out.append(byte)
                        lineLength += 1
                        atLineStart = false
                    }
                    i = end + 1
                }
            }
        }
        // RFC 5321 §4.1.1.4: a body that does not end in CRLF gets one before the final dot.
        if !atLineStart {
            try checkLength(lineLength, at: n)
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
