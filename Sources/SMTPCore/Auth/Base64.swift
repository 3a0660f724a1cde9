/// Strict base64 (RFC 4648 §4) for SASL exchanges (RFC 4954 §4): standard alphabet, padding
/// required, no line breaks or spaces. Hand-written because SMTPCore has no Foundation.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], alphabet[Int(v & 63)]]
            i += 3
        }
        switch input.count - i {
        case 1:
            let v = UInt32(input[i]) << 16
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], 0x3D, 0x3D]
        case 2:
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], 0x3D]
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// Decodes; throws `.invalidBase64` (server reply 501 5.5.2) on anything but canonical base64.
    public static func decode<Bytes: Collection>(_ text: Bytes) throws(SMTPError) -> [UInt8] where Bytes.Element == UInt8 {
        let input = Array(text)
        guard input.count % 4 == 0 else { throw invalid("length \(input.count) is not a multiple of 4") }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            var values: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
            var padding = 0
            for k in 0..<4 {
                let c = input[i + k]
                var v: UInt32 = 0
                if c == 0x3D {
                    // "=" only in the last two places of the last quantum.
                    guard i + 4 == input.count, k >= 2 else { throw invalid("misplaced padding at \(i + k)") }
                    padding += 1
                } else {
                    guard padding == 0 else { throw invalid("data after padding at \(i + k)") }
                    let d = decodeTable[Int(c)]
                    guard d != 0xFF else { throw invalid("byte \(ASCII.escaped([c])) at \(i + k) is not base64") }
                    v = UInt32(d)
                }
                switch k {
                case 0: values.0 = v
                case 1: values.1 = v
                case 2: values.2 = v
                default: values.3 = v
                }
            }
            let word = values.0 << 18 | values.1 << 12 | values.2 << 6 | values.3
            out.append(UInt8(word >> 16))
            if padding < 2 { out.append(UInt8(word >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(word & 0xFF)) }
            // Canonical form: the bits dropped by padding must be zero (RFC 4648 §3.5).
            if padding == 1, word & 0xFF != 0 { throw invalid("non-canonical final quantum") }
            if padding == 2, word & 0xFFFF != 0 { throw invalid("non-canonical final quantum") }
            i += 4
        }
        return out
    }

    public static func decode(_ text: String) throws(SMTPError) -> [UInt8] { try decode(Array(text.utf8)) }

    private static func invalid(_ detail: String) -> SMTPError {
        SMTPError(.invalidBase64, reply: .authInvalidBase64, detail: detail)
    }
}
