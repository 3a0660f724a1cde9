/// A probability as an integer ratio (TigerBeetle's `Ratio`): exact, printable, Codable as "n/d".
public struct Ratio: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public let numerator: UInt64
    public let denominator: UInt64

    public init(_ numerator: UInt64, _ denominator: UInt64) {
        precondition(denominator > 0, "a ratio needs a positive denominator")
        self.numerator = min(numerator, denominator)
        self.denominator = denominator
    }

    /// Parses "n/d", "0", "1" or a percentage "25%".
    public init?(_ text: String) {
        let t = text.trimmingSpaces
        if t.hasSuffix("%"), let p = UInt64(t.dropLast()), p <= 100 {
            self.init(p, 100)
        } else if let slash = t.firstIndex(of: "/"), let n = UInt64(t[..<slash]), let d = UInt64(t[t.index(after: slash)...]), d > 0, n <= d {
            self.init(n, d)
        } else if t == "0" {
            self.init(0, 1)
        } else if t == "1" {
            self.init(1, 1)
        } else {
            return nil
        }
    }

    public static let never = Ratio(0, 1)
    public static let always = Ratio(1, 1)

    public var description: String { "\(numerator)/\(denominator)" }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let r = Ratio(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a ratio: \(text) (write n/d, e.g. 1/4)"))
        }
        self = r
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
