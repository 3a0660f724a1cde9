/// Parses paths and mailboxes (RFC 5321 §4.1.2, §4.1.3; RFC 6531 §3.3 when UTF-8 is allowed).
///
/// ```
/// Path            = "<" [ A-d-l ":" ] Mailbox ">"       ; source route accepted and ignored
/// Mailbox         = Local-part "@" ( Domain / address-literal )
/// Local-part      = Dot-string / Quoted-string          ; ≤ 64 octets (§4.5.3.1.1)
/// Domain          = sub-domain *("." sub-domain)         ; ≤ 255 octets (§4.5.3.1.2)
/// sub-domain      = Let-dig [Ldh-str]
/// address-literal = "[" ( IPv4 / "IPv6:" IPv6 / tag ":" 1*dcontent ) "]"
/// ```
/// Paths are at most 256 octets with their punctuation (§4.5.3.1.3). Errors carry offsets
/// relative to the bytes given.
enum PathParser {
    typealias Bytes = UnsafeBufferPointer<UInt8>

    static func parseMailbox(_ bytes: [UInt8], limits: SMTPLimits, allowUTF8: Bool) throws(SMTPError) -> Mailbox {
        try bytes.withUnsafeBufferPointer { (buf: Bytes) throws(SMTPError) -> Mailbox in
            var i = 0
            let mailbox = try mailbox(buf, &i, limits: limits, allowUTF8: allowUTF8)
            guard i == buf.count else { throw invalid("trailing bytes after mailbox", at: i) }
            return mailbox
        }
    }

    /// Parses a path at `i`, which must be "<". Leaves `i` after ">".
    /// - Parameter allowNull: `<>` is allowed (reverse-path).
    /// - Returns: `nil` for `<>`, `.some(nil)` for `<Postmaster>` when `allowPostmaster`.
    static func path(
        _ b: Bytes, _ i: inout Int, limits: SMTPLimits, allowUTF8: Bool, allowNull: Bool, allowPostmaster: Bool
    ) throws(SMTPError) -> PathValue {
        let start = i
        guard i < b.count, b[i] == ASCII.less else { throw invalid("path must start with <", at: i) }
        i += 1
        if i < b.count, b[i] == ASCII.greater {
            guard allowNull else { throw invalid("empty path not allowed here", at: i) }
            i += 1
            return .null
        }
        // Source route: A-d-l ":" — "MUST BE accepted, SHOULD NOT be generated, and SHOULD be
        // ignored" (RFC 5321 §4.1.2, Appendix C).
        if i < b.count, b[i] == ASCII.at {
            while true {
                guard i < b.count, b[i] == ASCII.at else { throw invalid("source route: expected @", at: i) }
                i += 1
                _ = try domain(b, &i, limits: limits, allowUTF8: allowUTF8)
                guard i < b.count else { throw invalid("unterminated source route", at: i) }
                if b[i] == ASCII.comma { i += 1; continue }
                guard b[i] == ASCII.colon else { throw invalid("source route: expected , or :", at: i) }
                i += 1
                break
            }
        }
        if allowPostmaster, i + 11 <= b.count,
            ASCII.equalsIgnoringCase(Bytes(rebasing: b[i..<(i + 10)]), "POSTMASTER"), b[i + 10] == ASCII.greater
        {
            i += 11
            return .postmaster
        }
        let mailbox = try mailbox(b, &i, limits: limits, allowUTF8: allowUTF8)
        guard i < b.count, b[i] == ASCII.greater else { throw invalid("path must end with >", at: i) }
        i += 1
        if i - start > limits.path {
            throw SMTPError(.pathTooLong, offset: start, detail: "path of \(i - start) octets, limit \(limits.path)")
        }
        return .mailbox(mailbox)
    }

    enum PathValue {
        case null
        case postmaster
        case mailbox(Mailbox)
    }

    static func mailbox(_ b: Bytes, _ i: inout Int, limits: SMTPLimits, allowUTF8: Bool) throws(SMTPError) -> Mailbox {
        let localStart = i
        if i < b.count, b[i] == ASCII.quote {
            try quotedString(b, &i, allowUTF8: allowUTF8)
        } else {
            try dotString(b, &i, allowUTF8: allowUTF8)
        }
        let localLength = i - localStart
        if localLength > limits.localPart {
            throw SMTPError(
                .pathTooLong, offset: localStart, detail: "local-part of \(localLength) octets, limit \(limits.localPart)"
            )
        }
        let local = ASCII.string(Bytes(rebasing: b[localStart..<i]))
        guard i < b.count, b[i] == ASCII.at else { throw invalid("expected @ after local-part", at: i) }
        i += 1
        let host = try self.host(b, &i, limits: limits, allowUTF8: allowUTF8)
        return Mailbox(uncheckedLocalPart: local, host: host)
    }

    static func host(_ b: Bytes, _ i: inout Int, limits: SMTPLimits, allowUTF8: Bool) throws(SMTPError) -> Mailbox.Host {
        if i < b.count, b[i] == ASCII.openBracket { return try addressLiteral(b, &i) }
        return .domain(try domain(b, &i, limits: limits, allowUTF8: allowUTF8))
    }

    /// `Dot-string = Atom *("." Atom)`, `Atom = 1*atext` (+ UTF8-non-ascii with SMTPUTF8).
    private static func dotString(_ b: Bytes, _ i: inout Int, allowUTF8: Bool) throws(SMTPError) {
        while true {
            let atomStart = i
            while i < b.count {
                let c = b[i]
                if ASCII.isAtext(c) {
                    i += 1
                } else if c >= 0x80 {
                    try utf8Character(b, &i, allowUTF8: allowUTF8)
                } else {
                    break
                }
            }
            guard i > atomStart else { throw invalid("empty atom in local-part", at: i) }
            guard i < b.count, b[i] == ASCII.dot else { return }
            i += 1
        }
    }

    /// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`; `qtextSMTP = %d32-33 / %d35-91 / %d93-126`,
    /// `quoted-pairSMTP = %d92 %d32-126`.
    private static func quotedString(_ b: Bytes, _ i: inout Int, allowUTF8: Bool) throws(SMTPError) {
        i += 1
        while i < b.count {
            let c = b[i]
            switch c {
            case ASCII.quote:
                i += 1
                return
            case ASCII.backslash:
                guard i + 1 < b.count, (32...126).contains(b[i + 1]) else {
                    throw invalid("bad quoted-pair in local-part", at: i)
                }
                i += 2
            case 32...126:
                i += 1
            case 0x80...:
                try utf8Character(b, &i, allowUTF8: allowUTF8)
            default:
                throw invalid("control character in quoted local-part", at: i)
            }
        }
        throw invalid("unterminated quoted local-part", at: i)
    }

    /// `Domain`; returns it as written. Labels are LDH (or U-labels under SMTPUTF8), 1–63 octets.
    static func domain(_ b: Bytes, _ i: inout Int, limits: SMTPLimits, allowUTF8: Bool) throws(SMTPError) -> String {
        let start = i
        while true {
            let labelStart = i
            while i < b.count {
                let c = b[i]
                if ASCII.isAlphaNum(c) || c == ASCII.hyphen {
                    i += 1
                } else if c >= 0x80 {
                    try utf8Character(b, &i, allowUTF8: allowUTF8)
                } else {
                    break
                }
            }
            let length = i - labelStart
            guard length > 0 else { throw invalid("empty domain label", at: i) }
            // sub-domain = Let-dig [Ldh-str]: no leading or trailing hyphen.
            guard b[labelStart] != ASCII.hyphen, b[i - 1] != ASCII.hyphen else {
                throw invalid("domain label starts or ends with a hyphen", at: labelStart)
            }
            // RFC 1035 §2.3.4: labels are 63 octets or less.
            guard length <= 63 else { throw invalid("domain label over 63 octets", at: labelStart) }
            guard i < b.count, b[i] == ASCII.dot else { break }
            i += 1
        }
        if i - start > limits.domain {
            throw SMTPError(.pathTooLong, offset: start, detail: "domain of \(i - start) octets, limit \(limits.domain)")
        }
        return ASCII.string(Bytes(rebasing: b[start..<i]))
    }

    /// `address-literal` (RFC 5321 §4.1.3).
    static func addressLiteral(_ b: Bytes, _ i: inout Int) throws(SMTPError) -> Mailbox.Host {
        let start = i
        i += 1
        let contentStart = i
        while i < b.count, b[i] != ASCII.closeBracket {
            // dcontent = %d33-90 / %d94-126
            guard ASCII.isGraphic(b[i]), b[i] != ASCII.openBracket, b[i] != ASCII.backslash else {
                throw invalid("bad character in address literal", at: i)
            }
            i += 1
        }
        guard i < b.count else { throw invalid("unterminated address literal", at: start) }
        let content = Bytes(rebasing: b[contentStart..<i])
        i += 1
        let text = ASCII.string(content)
        if let colon = content.firstIndex(of: ASCII.colon) {
            let tag = Bytes(rebasing: content[..<colon])
            let rest = ASCII.string(Bytes(rebasing: content[(colon + 1)...]))
            if ASCII.equalsIgnoringCase(tag, "IPV6") {
                guard isIPv6(rest) else { throw invalid("bad IPv6 address literal", at: contentStart) }
                return .ipv6(rest)
            }
            // Standardized-tag = Ldh-str; dcontent follows.
            guard !tag.isEmpty, tag.allSatisfy({ ASCII.isAlphaNum($0) || $0 == ASCII.hyphen }),
                ASCII.isAlphaNum(tag[tag.count - 1]), !rest.isEmpty
            else { throw invalid("bad general address literal", at: contentStart) }
            return .general(tag: ASCII.string(tag), content: rest)
        }
        guard isIPv4(text) else { throw invalid("bad IPv4 address literal", at: contentStart) }
        return .ipv4(text)
    }

    /// `IPv4-address-literal = Snum 3("." Snum)`, Snum = 1*3DIGIT representing 0–255.
    static func isIPv4(_ s: String) -> Bool {
        let parts = s.utf8.split(separator: ASCII.dot, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(ASCII.isDigit) else { return false }
            let value = part.reduce(0) { $0 * 10 + Int($1 - ASCII.zero) }
            guard value <= 255 else { return false }
        }
        return true
    }

    /// RFC 5321 §4.1.3 `IPv6-addr`: full, compressed ("::" once), with an optional IPv4 tail.
    static func isIPv6(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard !bytes.isEmpty, bytes.count <= 45 else { return false }
        var groups = s.components(separatedByDoubleColon: ())
        guard groups.count <= 2 else { return false }
        let compressed = groups.count == 2
        var total = 0
        for (index, part) in groups.enumerated() {
            if part.isEmpty { continue }
            var hexGroups = part.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if index == groups.count - 1, let last = hexGroups.last, last.contains(".") {
                guard isIPv4(last) else { return false }
                hexGroups.removeLast()
                total += 2
            }
            for group in hexGroups {
                guard (1...4).contains(group.utf8.count), group.utf8.allSatisfy(ASCII.isHexDigit) else { return false }
                total += 1
            }
        }
        groups.removeAll()
        // "::" stands for at least two groups (RFC 5321 §4.1.3: "No more than 6 groups in
        // addition to the \"::\" may be present"; four beside an IPv4 tail, which counts as two).
        return compressed ? total <= 6 : total == 8
    }

    /// One UTF-8 encoded character (RFC 6531 `UTF8-non-ascii`), only when SMTPUTF8 is in effect.
    private static func utf8Character(_ b: Bytes, _ i: inout Int, allowUTF8: Bool) throws(SMTPError) {
        guard allowUTF8 else {
            throw SMTPError(.utf8NotAllowed, reply: .utf8NotAllowed, offset: i, detail: "8-bit byte in address without SMTPUTF8")
        }
        let lead = b[i]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: throw invalid("invalid UTF-8 in address", at: i)
        }
        guard i + length <= b.count else { throw invalid("truncated UTF-8 in address", at: i) }
        var scalar = UInt32(lead) & (0xFF >> (length + 1))
        for k in 1..<length {
            let c = b[i + k]
            guard c & 0xC0 == 0x80 else { throw invalid("invalid UTF-8 in address", at: i + k) }
            scalar = scalar << 6 | UInt32(c & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
            throw invalid("invalid UTF-8 in address", at: i)
        }
        i += length
    }

    static func invalid(_ detail: String, at offset: Int) -> SMTPError {
        SMTPError(.invalidAddress, offset: offset, detail: detail)
    }
}

extension String {
    /// Splits on "::" (at most the first occurrence matters; more than one makes 3+ parts).
    fileprivate func components(separatedByDoubleColon: Void) -> [String] {
        var parts: [String] = []
        var current: [UInt8] = []
        let bytes = Array(utf8)
        var k = 0
        while k < bytes.count {
            if bytes[k] == ASCII.colon, k + 1 < bytes.count, bytes[k + 1] == ASCII.colon {
                parts.append(String(decoding: current, as: UTF8.self))
                current.removeAll()
                k += 2
            } else {
                current.append(bytes[k])
                k += 1
            }
        }
        parts.append(String(decoding: current, as: UTF8.self))
        return parts
    }
}
