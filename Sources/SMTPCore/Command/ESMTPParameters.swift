/// One `esmtp-param = esmtp-keyword ["=" esmtp-value]` (RFC 5321 §4.1.2).
public struct ESMTPParameter: Hashable, Sendable, CustomStringConvertible {
    /// `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`, as written.
    public var keyword: String
    /// `1*(%d33-60 / %d62-126)` (+ UTF-8 under SMTPUTF8); `nil` when no "=" was given.
    public var value: String?

    public init(_ keyword: String, _ value: String? = nil) {
        self.keyword = keyword
        self.value = value
    }

    public var description: String { value.map { "\(keyword)=\($0)" } ?? keyword }
}

/// The BODY parameter (RFC 6152 §2 for 8BITMIME, RFC 3030 §3 for BINARYMIME).
public enum BodyType: String, Hashable, Sendable, CaseIterable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
    case binaryMIME = "BINARYMIME"
}

/// Parameters of MAIL FROM. The ones smtpsim understands are typed; every other keyword is kept
/// in `other`, in order, for the server to refuse with 555 (RFC 5321 §4.1.1.11) or accept.
public struct MailParameters: Hashable, Sendable {
    /// RFC 1870 §3: `SIZE=1*20DIGIT`, the declared message size in octets.
    public var size: UInt64?
    /// RFC 6152 / RFC 3030: BODY=7BIT | 8BITMIME | BINARYMIME.
    public var body: BodyType?
    /// RFC 6531 §3.4: SMTPUTF8 (no value).
    public var smtpUTF8 = false
    /// RFC 8689 §4.1: REQUIRETLS (no value).
    public var requireTLS = false
    /// RFC 4954 §5: `AUTH=` xtext mailbox or `<>`, kept as written.
    public var auth: String?
    /// Every other parameter, in the order given.
    public var other: [ESMTPParameter] = []

    public init(
        size: UInt64? = nil, body: BodyType? = nil, smtpUTF8: Bool = false, requireTLS: Bool = false,
        auth: String? = nil, other: [ESMTPParameter] = []
    ) {
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.requireTLS = requireTLS
        self.auth = auth
        self.other = other
    }

    public var isEmpty: Bool { self == MailParameters() }

    /// The parameters in wire order: typed ones first, then `other`.
    public var all: [ESMTPParameter] {
        var out: [ESMTPParameter] = []
        if let size { out.append(ESMTPParameter("SIZE", String(size))) }
        if let body { out.append(ESMTPParameter("BODY", body.rawValue)) }
        if smtpUTF8 { out.append(ESMTPParameter("SMTPUTF8")) }
        if requireTLS { out.append(ESMTPParameter("REQUIRETLS")) }
        if let auth { out.append(ESMTPParameter("AUTH", auth)) }
        return out + other
    }
}

/// Parameters of RCPT TO. None are typed yet (DSN's NOTIFY and ORCPT are kept in `other`).
public struct RcptParameters: Hashable, Sendable {
    public var other: [ESMTPParameter] = []
    public init(other: [ESMTPParameter] = []) { self.other = other }
    public var isEmpty: Bool { other.isEmpty }
    public var all: [ESMTPParameter] { other }
}

/// Parses the `Mail-parameters` / `Rcpt-parameters` that follow a path.
enum ParameterParser {
    typealias Bytes = UnsafeBufferPointer<UInt8>

    /// Splits `esmtp-param *(SP esmtp-param)` from `b[i...]`. Duplicate keywords (compared without
    /// case) are an error: RFC 5321 §4.1.2 gives one value per keyword.
    static func parameters(_ b: Bytes, from start: Int, allowUTF8: Bool) throws(SMTPError) -> [ESMTPParameter] {
        var params: [ESMTPParameter] = []
        var seen: [String] = []
        var i = start
        while i < b.count {
            guard b[i] == ASCII.space else { throw syntax("expected SP between parameters", at: i) }
            while i < b.count, b[i] == ASCII.space { i += 1 }
            if i == b.count { break }  // trailing spaces
            let keyStart = i
            guard ASCII.isAlphaNum(b[i]) else { throw syntax("parameter keyword must start with a letter or digit", at: i) }
            while i < b.count, ASCII.isAlphaNum(b[i]) || b[i] == ASCII.hyphen { i += 1 }
            let keyword = ASCII.string(Bytes(rebasing: b[keyStart..<i]))
            var value: String?
            if i < b.count, b[i] == ASCII.equals {
                i += 1
                let valueStart = i
                while i < b.count, b[i] != ASCII.space {
                    let c = b[i]
                    if c >= 0x80 {
                        guard allowUTF8 else { throw syntax("8-bit byte in parameter value", at: i) }
                    } else if !ASCII.isGraphic(c) || c == ASCII.equals {
                        throw syntax("invalid character in parameter value", at: i)
                    }
                    i += 1
                }
                guard i > valueStart else { throw syntax("empty value for \(keyword)", at: i) }
                let raw = Bytes(rebasing: b[valueStart..<i])
                // RFC 6531 §3.3: the 8-bit octets of a value are UTF-8 (found by the CommandLine model).
                if allowUTF8, raw.contains(where: { $0 >= 0x80 }), String(validating: raw, as: UTF8.self) == nil {
                    throw syntax("invalid UTF-8 in the value of \(keyword)", at: valueStart)
                }
                value = String(decoding: raw, as: UTF8.self)
            } else if i < b.count, b[i] != ASCII.space {
                throw syntax("invalid character in parameter keyword", at: i)
            }
            let upper = keyword.uppercased()
            if seen.contains(upper) {
                throw SMTPError(
                    .duplicateParameter, reply: .syntaxError, offset: keyStart, detail: "\(keyword) given twice"
                )
            }
            seen.append(upper)
            params.append(ESMTPParameter(keyword, value))
        }
        return params
    }

    static func mailParameters(_ list: [ESMTPParameter]) throws(SMTPError) -> MailParameters {
        var result = MailParameters()
        for p in list {
            switch p.keyword.uppercased() {
            case "SIZE":
                // RFC 1870 §3: size-value ::= 1*20DIGIT
                guard let v = p.value, (1...20).contains(v.utf8.count), v.utf8.allSatisfy(ASCII.isDigit),
                    let n = UInt64(v)
                else { throw badValue(p, "SIZE needs 1 to 20 digits") }
                result.size = n
            case "BODY":
                guard let v = p.value, let body = BodyType(rawValue: v.uppercased()) else {
                    throw badValue(p, "BODY must be 7BIT, 8BITMIME or BINARYMIME")
                }
                result.body = body
            case "SMTPUTF8":
                guard p.value == nil else { throw badValue(p, "SMTPUTF8 takes no value") }
                result.smtpUTF8 = true
            case "REQUIRETLS":
                guard p.value == nil else { throw badValue(p, "REQUIRETLS takes no value") }
                result.requireTLS = true
            case "AUTH":
                guard let v = p.value else { throw badValue(p, "AUTH needs a value") }
                result.auth = v
            default:
                result.other.append(p)
            }
        }
        return result
    }

    private static func badValue(_ p: ESMTPParameter, _ detail: String) -> SMTPError {
        SMTPError(.invalidParameter, reply: .syntaxError, detail: "\(p): \(detail)")
    }

    private static func syntax(_ detail: String, at offset: Int) -> SMTPError {
        SMTPError(.invalidParameter, reply: .syntaxError, offset: offset, detail: detail)
    }
}
