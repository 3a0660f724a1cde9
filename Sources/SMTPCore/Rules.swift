/// What server and client rules share (docs/scenario-format.md "Rules"): when a rule fires (the
/// nth time its trigger is met on a connection, inside or outside TLS, with a seeded
/// probability), the glob its pattern is, and the reply text it answers with. Pure: a rule's
/// probability is a function of the rule seed, the connection, the rule and the count, so the
/// machines that apply rules stay free of randomness and the same seed makes the same choices.
public struct RuleCondition: Hashable, Sendable {
    /// Fire only the nth time the trigger is met on a connection (1-based); nil: every time.
    public var nth: Int?
    /// Only inside (true) or outside (false) TLS; nil: either.
    public var tls: Bool?
    /// Fire with this probability, drawn per match from the rule seed; nil: always.
    public var probability: Ratio?

    public init(nth: Int? = nil, tls: Bool? = nil, probability: Ratio? = nil) {
        self.nth = nth
        self.tls = tls
        self.probability = probability
    }

    /// Whether the rule fires at its `count`th match (1-based) on `connection`.
    public func fires(count: Int, inTLS: Bool, seed: UInt64, connection: String, rule: Int) -> Bool {
        if let tls, tls != inTLS { return false }
        if let nth, nth != count { return false }
        guard let p = probability else { return true }
        guard p.numerator < p.denominator else { return true }
        return Self.draw(seed: seed, connection: connection, rule: rule, count: count) % p.denominator < p.numerator
    }

    /// A 64-bit value fixed by its inputs (FNV-1a over the connection name, SplitMix64's finaliser).
    static func draw(seed: UInt64, connection: String, rule: Int, count: Int) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in connection.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var z = seed ^ h ^ (UInt64(truncatingIfNeeded: rule) << 40) ^ UInt64(truncatingIfNeeded: count)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A glob over one line of text, without its CRLF: `*` any run, `?` one character, matched
/// case-insensitively over the whole line (`RCPT TO:<*@blocked.example>`, `250-*CHUNKING*`).
public struct TextPattern: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    private let pattern: [UInt8]

    public init(_ text: String) {
        self.text = text
        pattern = Array(text.utf8).map(Self.folded)
    }

    public var description: String { text }

    public func matches<Line: Collection>(_ line: Line) -> Bool where Line.Element == UInt8 {
        let s = line.map(Self.folded)
        // Iterative glob with one backtrack point (linear in practice, quadratic at worst).
        var p = 0, i = 0
        var star: Int?, mark = 0
        while i < s.count {
            if p < pattern.count, pattern[p] == 0x3F || pattern[p] == s[i] {
                p += 1
                i += 1
            } else if p < pattern.count, pattern[p] == 0x2A {
                star = p
                mark = i
                p += 1
            } else if let st = star {
                p = st + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }

    private static func folded(_ b: UInt8) -> UInt8 { (0x61...0x7A).contains(b) ? b - 0x20 : b }
}

/// The reply a rule answers with: its lines as written (any code, any text, even a broken one:
/// the reply-grammar oracle judges what a server sends), each sent with CRLF.
public struct RuleReply: Hashable, Sendable {
    public var lines: [String]

    public init(lines: [String]) { self.lines = lines }

    /// Text with `\r\n` or `\n` between lines (a trailing line end is dropped).
    public init(text: String) {
        var lines = text.replacingCRLF().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.count > 1, lines.last == "" { lines.removeLast() }
        self.lines = lines
    }

    public var wire: [UInt8] { lines.flatMap { Array($0.utf8) + [0x0D, 0x0A] } }

    /// The code the first line starts with, when it has one.
    public var code: Int? {
        guard let first = lines.first, first.utf8.count >= 3 else { return nil }
        return Int(String(first.prefix(3)))
    }

    /// A 2yz or 3yz reply says the command was done (or may go on); a rule whose reply is one
    /// acts on the command unless it says otherwise.
    public var isPositive: Bool { code.map { (200..<400).contains($0) } ?? false }
}

extension String {
    fileprivate func replacingCRLF() -> String {
        var out = ""
        var previous: Character?
        for ch in unicodeScalars.map(Character.init) {
            if ch == "\n", previous == "\r" { out.removeLast() }
            out.append(ch)
            previous = ch
        }
        return out
    }
}
