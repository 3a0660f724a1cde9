/// A sequence that some mail software mistakes for the end of data, `<CRLF>.<CRLF>`, and that
/// "SMTP smuggling" uses to hide a second message inside the first (SEC Consult, Dec 2023;
/// CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim, CVE-2024-27305
/// aiosmtpd). RFC 5321 §4.1.1.4: "<LF>.<LF> MUST NOT be treated as equivalent to <CRLF>.<CRLF>".
///
/// Names follow Hanno Böck's smtpsmug; the two "outbound" sequences are SEC Consult's.
public enum SmugglingVariant: String, CaseIterable, Hashable, Sendable, Codable {
    /// `\n.\n`
    case lfLF = "lf-dot-lf"
    /// `\r.\r` (not followed by LF)
    case crCR = "cr-dot-cr"
    /// `\r.\n`
    case crLF = "cr-dot-lf"
    /// `\n.\r` (not followed by LF)
    case lfCR = "lf-dot-cr"
    /// `\n.\r\n`
    case lfCRLF = "lf-dot-crlf"
    /// `\r\n.\n`
    case crlfLF = "crlf-dot-lf"
    /// `\r.\r\n`
    case crCRLF = "cr-dot-crlf"
    /// `\r\n.\r` (not followed by LF or CR LF)
    case crlfCR = "crlf-dot-cr"
    /// `\r\n\0.\r\n`
    case nulBefore = "crlf-nul-dot-crlf"
    /// `\r\n.\r\r\n`
    case crlfCRCRLF = "crlf-dot-cr-crlf"
    /// `\r\r\n.\r\r\n`
    case crCRLFCRCRLF = "cr-crlf-dot-cr-crlf"

    /// The bytes of the sequence.
    public var bytes: [UInt8] {
        switch self {
        case .lfLF: [0x0A, 0x2E, 0x0A]
        case .crCR: [0x0D, 0x2E, 0x0D]
        case .crLF: [0x0D, 0x2E, 0x0A]
        case .lfCR: [0x0A, 0x2E, 0x0D]
        case .lfCRLF: [0x0A, 0x2E, 0x0D, 0x0A]
        case .crlfLF: [0x0D, 0x0A, 0x2E, 0x0A]
        case .crCRLF: [0x0D, 0x2E, 0x0D, 0x0A]
        case .crlfCR: [0x0D, 0x0A, 0x2E, 0x0D]
        case .nulBefore: [0x0D, 0x0A, 0x00, 0x2E, 0x0D, 0x0A]
        case .crlfCRCRLF: [0x0D, 0x0A, 0x2E, 0x0D, 0x0D, 0x0A]
        case .crCRLFCRCRLF: [0x0D, 0x0D, 0x0A, 0x2E, 0x0D, 0x0D, 0x0A]
        }
    }

    /// Readable form, e.g. `\r\n.\n`.
    public var escaped: String { ASCII.escaped(bytes) }
}
