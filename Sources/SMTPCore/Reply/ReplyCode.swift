/// A three-digit SMTP reply code (RFC 5321 §4.2, §4.2.1).
///
/// `Reply-code = %x32-35 %x30-35 %x30-39`: the first digit says whether the command succeeded
/// (2), needs more (3), failed temporarily (4) or permanently (5); clients act on the code and
/// "handle unknown codes by their first digit".
public struct ReplyCode: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: UInt16

    /// A code that obeys the ABNF of RFC 5321 §4.2; `nil` otherwise.
    public init?(_ value: Int) {
        guard (200...559).contains(value) else { return nil }
        let second = (value / 10) % 10
        guard second <= 5 else { return nil }
        self.value = UInt16(value)
    }

    /// For literals in the catalogue; traps on a code outside the grammar (a programming error).
    init(checked value: Int) {
        guard let code = ReplyCode(value) else { preconditionFailure("invalid reply code \(value)") }
        self = code
    }

    public enum Class: Int, Sendable {
        /// 2yz: positive completion.
        case positiveCompletion = 2
        /// 3yz: positive intermediate (354, 334).
        case positiveIntermediate = 3
        /// 4yz: transient negative completion; the client may retry.
        case transientNegative = 4
        /// 5yz: permanent negative completion.
        case permanentNegative = 5
    }

    public var replyClass: Class { Class(rawValue: Int(value / 100))! }
    public var isPositive: Bool { value < 400 }
    public var isTransient: Bool { value / 100 == 4 }
    public var isPermanent: Bool { value / 100 == 5 }
    public var description: String { String(value) }
    public static func < (a: ReplyCode, b: ReplyCode) -> Bool { a.value < b.value }
}

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463 §2, RFC 2034).
///
/// class ∈ {2, 4, 5}; subject and detail are 1 to 3 digits without leading zeros.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    public let codeClass: UInt8
    public let subject: UInt16
    public let detail: UInt16

    /// Appends `class.subject.detail` as ASCII digits (RFC 3463 §2), no String made: every reply
    /// the server writes with a code goes through here.
    public func write(into out: inout [UInt8]) {
        Self.digits(UInt16(codeClass), into: &out)
        out.append(0x2E)
        Self.digits(subject, into: &out)
        out.append(0x2E)
        Self.digits(detail, into: &out)
    }

    private static func digits(_ n: UInt16, into out: inout [UInt8]) {
        if n >= 100 { out.append(ASCII.zero + UInt8(n / 100 % 10)) }
        if n >= 10 { out.append(ASCII.zero + UInt8(n / 10 % 10)) }
        out.append(ASCII.zero + UInt8(n % 10))
    }

    public init?(codeClass: Int, subject: Int, detail: Int) {
        guard [2, 4, 5].contains(codeClass), (0...999).contains(subject), (0...999).contains(detail) else {
            return nil
        }
        self.codeClass = UInt8(codeClass)
        self.subject = UInt16(subject)
        self.detail = UInt16(detail)
    }

    init(_ c: Int, _ s: Int, _ d: Int) {
        guard let code = EnhancedStatusCode(codeClass: c, subject: s, detail: d) else {
            preconditionFailure("invalid enhanced status code \(c).\(s).\(d)")
        }
        self = code
    }

    /// Parses `class.subject.detail` from the start of `text` (RFC 3463 §2). Returns the code and
    /// the number of bytes it spans; `nil` when the text does not start with a well-formed code
    /// followed by a space or the end of the text.
    static func parsePrefix(_ text: UnsafeBufferPointer<UInt8>) -> (EnhancedStatusCode, Int)? {
        var i = 0
        var parts: (Int, Int, Int) = (0, 0, 0)
        for index in 0..<3 {
            let start = i
            var value = 0
            while i < text.count, ASCII.isDigit(text[i]), i - start < 3 {
                value = value * 10 + Int(text[i] &- ASCII.zero)
                i += 1
            }
            let digits = i - start
            // 1*3digit, no leading zeros (RFC 3463 §2: "leading zeros are not permitted")
            guard digits >= 1, !(digits > 1 && text[start] == ASCII.zero) else { return nil }
            if index == 0 { guard digits == 1 else { return nil } }
            switch index {
            case 0: parts.0 = value
            case 1: parts.1 = value
            default: parts.2 = value
            }
            if index < 2 {
                guard i < text.count, text[i] == ASCII.dot else { return nil }
                i += 1
            }
        }
        guard i == text.count || text[i] == ASCII.space else { return nil }
        guard let code = EnhancedStatusCode(codeClass: parts.0, subject: parts.1, detail: parts.2) else {
            return nil
        }
        return (code, i)
    }

    public var description: String { "\(codeClass).\(subject).\(detail)" }
}
