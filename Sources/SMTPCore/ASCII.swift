#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte constants and classification used by every parser. Internal: the public API speaks in
/// values, not bytes.
enum ASCII {
    static let nul: UInt8 = 0x00
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let hyphen: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let colon: UInt8 = 0x3A
    static let less: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greater: UInt8 = 0x3E
    static let at: UInt8 = 0x40
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let asterisk: UInt8 = 0x2A

    static let crlf: [UInt8] = [cr, lf]

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- zero < 10 }
    @inline(__always) static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 }
    @inline(__always) static func isAlphaNum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }
    @inline(__always) static func isHexDigit(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) &- 0x61 < 6 }
    @inline(__always) static func upper(_ b: UInt8) -> UInt8 { (b &- 0x61 < 26) ? b &- 0x20 : b }
    /// Printable US-ASCII, %d33-126.
    @inline(__always) static func isGraphic(_ b: UInt8) -> Bool { b &- 33 < 94 }
    /// RFC 5322 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~".
    @inline(__always) static func isAtext(_ b: UInt8) -> Bool { atextTable[Int(b)] }

    private static let atextTable: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for b in UInt8(0)...UInt8(127) where isAlphaNum(b) { t[Int(b)] = true }
        for c in "!#$%&'*+-/=?^_`{|}~".utf8 { t[Int(c)] = true }
        return t
    }()

    /// Case-insensitive comparison of ASCII bytes against an upper-case ASCII literal.
    @inline(__always)
    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ upperLiteral: StaticString) -> Bool {
        guard bytes.count == upperLiteral.utf8CodeUnitCount else { return false }
        let lit = upperLiteral.utf8Start
        for i in 0..<bytes.count where upper(bytes[i]) != lit[i] { return false }
        return true
    }

    /// `String` from bytes known to be valid (ASCII or already-validated UTF-8).
    @inline(__always)
    static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Printable rendering of bytes for error messages: control characters escaped.
    static func escaped<S: Sequence>(_ bytes: S, limit: Int = 64) -> String where S.Element == UInt8 {
        var out = ""
        var n = 0
        for b in bytes {
            if n == limit { out += "…"; break }
            n += 1
            switch b {
            case cr: out += "\\r"
            case lf: out += "\\n"
            case tab: out += "\\t"
            case backslash: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789abcdef".utf8)
                out += "\\x"
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 0xF)]))
            }
        }
        return out
    }
}

/// Fast byte search over raw memory (glibc's vectorised `memchr`): the hot loops of the line
/// framer and the DATA decoder jump from line end to line end instead of testing every byte.
enum ByteSearch {
    /// Index of the first `byte` in `base[from..<to]`, or `nil`.
    @inline(__always)
    static func first(_ byte: UInt8, in base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to else { return nil }
        guard let p = memchr(base + from, Int32(byte), to - from) else { return nil }
        return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }
}

/// Octet-for-octet equality at `memcmp`'s speed (the oracles compare whole message bodies).
public enum Octets {
    public static func equal(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    /// Index just past the first occurrence of `needle` in `haystack`.
    public static func end(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return i + needle.count }
            i += 1
        }
        return nil
    }

    /// `needle` occurs in `haystack`.
    public static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { end(of: needle, in: haystack) != nil }
}
