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
        spans(bytes, limit: limit).map { span in
            switch span {
            case .line(let range): .line(Array(bytes[range]))
            case .error(let code): .error(code)
            }
        }
    }

    /// A line as where it is in the input (no copy), or an error.
    public enum Span: Equatable {
        case line(Range<Int>)
        case error(SMTPError.Code)
    }

    public static func spans(_ bytes: [UInt8], limit: Int) -> [Span] {
        var out: [Span] = []
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
                out.append(.line(i..<(lf - 1)))
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
/// `maximumLines` lines. A line that breaks a rule ends the reply being assembled. Read strictly,
/// a last line `334` without SP breaks RFC 4954 §4 (`continue-req = "334" SP [base64] CRLF`).
public enum ReferenceReply {
    public enum Item: Equatable {
        case reply(code: Int, texts: [[UInt8]])
        case error(SMTPError.Code)
    }

    public static func parse(_ bytes: [UInt8], lineLimit: Int, maximumLines: Int, strictChallenges: Bool = false) -> [Item] {
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
            if line.count == 3, strictChallenges, code == 334 {
                pending = nil
                out.append(.error(.bareChallenge))
                continue
            } else if line.count == 3 {
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

/// RFC 4648 §4 base64, canonical only (§3.5: the bits padding drops are zero), the slow way:
/// the whole text is quanta of four alphabet characters, the last one optionally `xx==` or
/// `xxx=`.
public enum ReferenceBase64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var body = text[...]
        var padding = 0
        while padding < 2, body.last == 0x3D { body = body.dropLast(); padding += 1 }
        guard padding == 0 || body.count % 4 == 4 - padding else { return nil }
        var bits: [Bool] = []
        for c in body {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            for shift in (0..<6).reversed() { bits.append((v >> shift) & 1 == 1) }
        }
        let whole = bits.count / 8 * 8
        guard bits[whole...].allSatisfy({ !$0 }) else { return nil }  // non-canonical final quantum
        return stride(from: 0, to: whole, by: 8).map { start in bits[start..<(start + 8)].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) } }
    }
}

/// RFC 4616 §2 PLAIN: `[authzid] NUL authcid NUL passwd`, authcid and passwd non-empty, every
/// field UTF-8 without NUL and at most 255 octets.
public enum ReferencePlain {
    public static func parse(_ message: [UInt8]) -> (authzid: [UInt8], authcid: [UInt8], passwd: [UInt8])? {
        let nuls = message.indices.filter { message[$0] == 0 }
        guard nuls.count == 2 else { return nil }
        let fields = [Array(message[..<nuls[0]]), Array(message[(nuls[0] + 1)..<nuls[1]]), Array(message[(nuls[1] + 1)...])]
        guard !fields[1].isEmpty, !fields[2].isEmpty, fields.allSatisfy({ $0.count <= 255 && String(validating: $0, as: UTF8.self) != nil }) else {
            return nil
        }
        return (fields[0], fields[1], fields[2])
    }
}

/// RFC 3030 §2 `bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF`, `chunk-size = 1*DIGIT`,
/// `end-marker = "LAST"` (ABNF strings are case-insensitive); the size must fit in 64 bits.
/// Trailing spaces are tolerated, as CommandParser documents for every command. `nil` when the
/// line is not a BDAT command at all (another verb).
public enum ReferenceBDAT {
    public enum Result: Equatable {
        case chunk(size: UInt64, last: Bool)
        case refused
    }

    public static func parse(_ given: [UInt8]) -> Result? {
        var line = given[...]
        while line.last == 0x20 { line = line.dropLast() }
        let verbEnd = line.firstIndex(of: 0x20) ?? line.endIndex
        guard String(decoding: line[..<verbEnd], as: UTF8.self).uppercased() == "BDAT" else { return nil }
        guard verbEnd < line.endIndex else { return .refused }
        let words = line[(verbEnd + 1)...].split(separator: 0x20, omittingEmptySubsequences: false)
        guard words.count == 1 || words.count == 2, let digits = words.first, !digits.isEmpty,
            digits.allSatisfy({ (0x30...0x39).contains($0) }), let size = UInt64(String(decoding: digits, as: UTF8.self))
        else { return .refused }
        if words.count == 1 { return .chunk(size: size, last: false) }
        return String(decoding: words[1], as: UTF8.self).uppercased() == "LAST" ? .chunk(size: size, last: true) : .refused
    }
}
