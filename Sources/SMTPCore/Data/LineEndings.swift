/// The one reading of line endings in a message body (RFC 5321 §2.3.8: only CRLF ends a line;
/// a bare CR or a bare LF is what SMTP smuggling is made of, docs/catalog.md G3). `DotStuffer`
/// (DATA), the client's BDAT chunks and the oracles' expected bodies all split a body with it and
/// decide what a bare CR or LF becomes by one `LineEndingPolicy`.
public enum LineEndings {
    /// What a body does with a bare CR or LF.
    public enum Policy: String, Hashable, Sendable, CaseIterable {
        /// An error with the offset (RFC 5321 §2.3.8: clients "MUST NOT transmit" them).
        case reject
        /// Each bare CR, bare LF becomes CRLF, so no pseudo end-of-data reaches the wire.
        case normalize
        /// Sent as is (what a vulnerable relay does; for flaw profiles only).
        case passThrough = "pass-through"
    }

    /// What ends one piece of a body.
    public enum Terminator: Sendable {
        case crlf, bareCR, bareLF
        /// The body ends without a line ending.
        case end
    }

    /// Calls `visit(start, end, terminator)` for each line of `b` in order: `b[start..<end]` is
    /// the line's content, `terminator` what follows it. Crosses each line with two `memchr`
    /// calls (the hot path of DATA encoding).
    @inline(__always)
    public static func forEachLine<E: Error>(
        in b: UnsafeBufferPointer<UInt8>, _ visit: (_ start: Int, _ end: Int, _ terminator: Terminator) throws(E) -> Void
    ) throws(E) {
        guard let p = b.baseAddress else { return }
        let n = b.count
        var i = 0
        while i < n {
            let lf = ByteSearch.first(ASCII.lf, in: p, from: i, to: n) ?? n
            if let cr = ByteSearch.first(ASCII.cr, in: p, from: i, to: lf) {
                let crlf = cr == lf - 1 && lf < n
                try visit(i, cr, crlf ? .crlf : .bareCR)
                i = cr + (crlf ? 2 : 1)
            } else if lf < n {
                try visit(i, lf, .bareLF)
                i = lf + 1
            } else {
                try visit(i, n, .end)
                i = n
            }
        }
    }

    /// `body` as a compliant client sends it: every line ended by CRLF (bare CR and LF as
    /// `policy` says), and a final CRLF when a non-empty body lacks one (RFC 5321 §4.1.1.4).
    /// Dots are not stuffed: this is the message, not the DATA payload.
    public static func canonical(_ body: [UInt8], policy: Policy) throws(SMTPError) -> [UInt8] {
        if isCanonical(body) { return body }  // no copy for the common case
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 2)
        try body.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(SMTPError) in
            try forEachLine(in: b) { (start: Int, end: Int, terminator: Terminator) throws(SMTPError) in
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<end]))
                switch terminator {
                case .crlf:
                    out += [ASCII.cr, ASCII.lf]
                case .bareCR, .bareLF:
                    switch policy {
                    case .reject: throw bareLineEnding(terminator, at: end)
                    case .normalize: out += [ASCII.cr, ASCII.lf]
                    case .passThrough: out.append(terminator == .bareCR ? ASCII.cr : ASCII.lf)
                    }
                case .end:
                    break
                }
            }
        }
        if !out.isEmpty, out.count < 2 || out[out.count - 2] != ASCII.cr || out[out.count - 1] != ASCII.lf { out += [ASCII.cr, ASCII.lf] }
        return out
    }

    /// Every line of `body` ends with CRLF, the last one too (or the body is empty): `canonical`
    /// would return it unchanged.
    public static func isCanonical(_ body: [UInt8]) -> Bool {
        body.isEmpty || (body.count >= 2 && body[body.count - 2] == ASCII.cr && body[body.count - 1] == ASCII.lf && !hasBareLineEnding(body))
    }

    /// `bytes`, one write, holds a bare CR or LF: an LF first or after anything but a CR, or a CR
    /// followed by anything but an LF (a CR at the end is not judged: its LF may come next).
    /// Two `memchr` walks (the oracles run this on every write of message data).
    public static func hasBareLineEnding(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress else { return false }
            let n = b.count
            var i = 0
            while let lf = ByteSearch.first(ASCII.lf, in: p, from: i, to: n) {
                if lf == 0 || p[lf - 1] != ASCII.cr { return true }
                i = lf + 1
            }
            i = 0
            while let cr = ByteSearch.first(ASCII.cr, in: p, from: i, to: n) {
                if cr + 1 < n, p[cr + 1] != ASCII.lf { return true }
                i = cr + 1
            }
            return false
        }
    }

    /// The error for a bare CR or LF under `.reject`.
    static func bareLineEnding(_ terminator: Terminator, at offset: Int) -> SMTPError {
        SMTPError(.bareLineEndingInBody, fault: .local, offset: offset,
                  detail: "bare \(terminator == .bareCR ? "CR" : "LF") in message body (RFC 5321 §2.3.8)")
    }
}
