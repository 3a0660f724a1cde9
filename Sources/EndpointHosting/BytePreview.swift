/// How bytes read in traces, logs and reports: printable ASCII as it is, CR and LF as `\r`
/// and `\n`, anything else as `\xNN`; TLS records (epoch 1) as nothing. Epoch 2 is cleartext
/// after a TLS session ended (docs/catalog.md I).
public enum BytePreview {
    public static func text(_ bytes: [UInt8], epoch: Int = 0, limit: Int = 120) -> String {
        if epoch == 1 { return "" }
        var out = ""
        for b in bytes.prefix(limit) {
            switch b {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16)  // two digits: NUL is \x00
            }
        }
        return bytes.count > limit ? out + "…" : out
    }

    /// The label a trace line gives bytes of `epoch` on a link.
    public static func label(epoch: Int) -> String {
        switch epoch {
        case 0: ""
        case 1: " [tls]"
        default: " [clear after tls]"
        }
    }
}
