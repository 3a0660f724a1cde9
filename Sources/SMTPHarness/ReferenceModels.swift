import SMTPCore

/// Small, obviously-correct models of the grammars the parser targets judge against
/// (docs/design.md rule 9): whole input at once, no streaming, no speed. Each says what the RFC
/// (and smtpsim's documented reading of it) accepts, so a parser that accepts more, or
/// something else, is caught even where its output round-trips.

/// RFC 5321 §2.3.8 line framing, the LineFramer's documented rules: only CR LF ends a line; a
/// line is rejected for its first fault in stream order — a bare CR (one not followed by LF), a
/// bare LF, or the octet that makes it too long (the (limit − 1)th before its CR LF; a bare CR at
/// that very octet counts as the CR) — and skipped to the next CR LF; an unfinished line at the
/// end is neither a line nor an error unless a fault is already in it.
public enum ReferenceFramer {
    public enum Item: Equatable {
        case line([UInt8])
        case error(SMTPError.Code)
    }

    public static func frame(_ bytes: [UInt8], limit: Int) -> [Item] {
        var out: [Item] = []
        var i = 0
        let n = bytes.count
        /// The index after the next CR LF at or after `start` (`crBefore`: the octet before
        /// `start` was a CR), or nil.
        func skip(from start: Int, crBefore: Bool) -> Int? {
            var k = start
            while k < n {
                if bytes[k] == 0x0A, k > start ? bytes[k - 1] == 0x0D : crBefore { return k + 1 }
                k += 1
            }
            return nil
        }
        while i < n {
            let lf = bytes[i...].firstIndex(of: 0x0A)
            let crossing = i + limit - 2
            // Where the line's text ends, and where a CR would be the line's own CR.
            let textEnd: Int
            let bareLF: Int?
            if let lf {
                let crlf = lf > i && bytes[lf - 1] == 0x0D
                textEnd = crlf ? lf - 1 : lf
                bareLF = crlf ? nil : lf
            } else {
                textEnd = bytes.last == 0x0D ? n - 1 : n
                bareLF = nil
            }
            let bareCR = bytes[i..<textEnd].firstIndex(of: 0x0D)
            let tooLong = crossing < textEnd ? crossing : nil
            // The first fault in stream order; a bare CR wins a tie with the length.
            if let cr = bareCR, tooLong.map({ cr <= $0 }) ?? true, bareLF.map({ cr < $0 }) ?? true {
                out.append(.error(.bareCarriageReturn))
                guard let next = skip(from: cr + 1, crBefore: true) else { return out }
                i = next
            } else if let at = tooLong, bareLF.map({ at < $0 }) ?? true {
                out.append(.error(.lineTooLong))
                guard let next = skip(from: i, crBefore: false) else { return out }
                i = next
            } else if let at = bareLF {
                out.append(.error(.bareLineFeed))
                guard let next = skip(from: at + 1, crBefore: false) else { return out }
                i = next
            } else if let lf {
                out.append(.line(Array(bytes[i..<(lf - 1)])))
                i = lf + 1
            } else {
                return out
            }
        }
        return out
    }
}

/// RFC 5321 §4.2 replies: `Reply-code = %x32-35 %x30-35 %x30-39`, then SP or "-" and text, or
/// the code alone (a last line); every line of a multiline reply has the same code; at most
/// `maximumLines` lines. A line that breaks a rule ends the reply being assembled.
public enum ReferenceReply {
    public enum Item: Equatable {
        case reply(code: Int, texts: [[UInt8]])
        case error(SMTPError.Code)
    }

    public static func parse(_ bytes: [UInt8], lineLimit: Int, maximumLines: Int) -> [Item] {
        var out: [Item] = []
        var pending: (code: Int, texts: [[UInt8]])?
        for item in ReferenceFramer.frame(bytes, limit: lineLimit) {
            guard case .line(let line) = item else {
                pending = nil
                if case .error(let code) = item { out.append(.error(code == .lineTooLong ? .replyLineTooLong : code)) }
                continue
            }
            func digit(_ k: Int) -> Int? { line.count > k && (0x30...0x39).contains(line[k]) ? Int(line[k] - 0x30) : nil }
            guard let d0 = digit(0), let d1 = digit(1), let d2 = digit(2) else {
                pending = nil
                out.append(.error(.malformedReply))
                continue
            }
            guard (2...5).contains(d0), d1 <= 5 else {
                pending = nil
                out.append(.error(.invalidReplyCode))
                continue
            }
            let code = d0 * 100 + d1 * 10 + d2
            let last: Bool
            if line.count == 3 {
                last = true
            } else if line[3] == 0x20 || line[3] == 0x2D {
                last = line[3] == 0x20
            } else {
                pending = nil
                out.append(.error(.malformedReply))
                continue
            }
            if let p = pending, p.code != code {
                pending = nil
                out.append(.error(.inconsistentMultilineReply))
                continue
            }
            var texts = pending?.texts ?? []
            texts.append(line.count > 4 ? Array(line[4...]) : [])
            if last {
                out.append(.reply(code: code, texts: texts))
                pending = nil
            } else if texts.count >= maximumLines {
                pending = nil
                out.append(.error(.tooManyReplyLines))
            } else {
                pending = (code, texts)
            }
        }
        return out
    }
}
