import SMTPCore

/// Reference models of the command grammar (RFC 5321 §4.1.1–§4.1.3, RFC 3030 §2, RFC 4954 §4,
/// RFC 1870, RFC 6152, RFC 6531, RFC 8689), written the slow way: whole strings, splits, sets.
/// A rejection is a set of error classes: the one the RFC fixes, or, where an input breaks two
/// rules at once, either of them (the parser reports the first it meets).

/// RFC 5321 §4.1.2 `Mailbox = Local-part "@" ( Domain / address-literal )` with §4.5.3.1's
/// limits (local-part 64, domain 255 octets) and RFC 6531 §3.3's UTF-8 when allowed. The value
/// is the local-part as written and the host in smtpsim's canonical form (`[IPv6:…]`).
public enum ReferenceMailbox {
    public enum Result: Equatable {
        case mailbox(local: [UInt8], host: String)
        case refused(Set<SMTPError.Code>)
    }

    static let atextSpecials = Set("!#$%&'*+-/=?^_`{|}~".utf8)
    static func isLetDig(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
    static func validUTF8(_ bytes: some Collection<UInt8>) -> Bool { String(validating: Array(bytes), as: UTF8.self) != nil }

    public static func parse(_ bytes: [UInt8], allowUTF8: Bool) -> Result {
        if let value = grammar(bytes, allowUTF8: allowUTF8, limits: true) { return value }
        var classes: Set<SMTPError.Code> = [.invalidAddress]
        if grammar(bytes, allowUTF8: allowUTF8, limits: false) != nil { return .refused([.pathTooLong]) }
        if !allowUTF8, bytes.contains(where: { $0 >= 0x80 }) {
            if grammar(bytes, allowUTF8: true, limits: true) != nil { return .refused([.utf8NotAllowed]) }
            classes.insert(.utf8NotAllowed)
            if grammar(bytes, allowUTF8: true, limits: false) != nil { return .refused([.utf8NotAllowed, .pathTooLong]) }
        }
        // A local-part over its limit is reported where it ends, before what follows is read.
        let run = bytes.first == 0x22 ? (quotedEnd(bytes) ?? 0) : (bytes.firstIndex { !(isLetDig($0) || atextSpecials.contains($0) || $0 == 0x2E || $0 >= 0x80) } ?? bytes.count)
        if run > 64 { classes.insert(.pathTooLong) }
        // So is a domain over its limit, where its labels end.
        if let at = localPartEnd(bytes), bytes.count > at + 1, bytes[at + 1] != 0x5B,
            bytes[(at + 1)...].prefix(while: { isLetDig($0) || $0 == 0x2D || $0 == 0x2E || $0 >= 0x80 }).count > 255 {
            classes.insert(.pathTooLong)
        }
        return .refused(classes)
    }

    /// Where the local-part ends (the "@" after it), if it can be found at all.
    static func localPartEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.first == 0x22 else { return bytes.firstIndex(of: 0x40) }
        guard let end = quotedEnd(bytes), end < bytes.count, bytes[end] == 0x40 else { return nil }
        return end
    }

    /// The index after the closing DQUOTE of a quoted-string at the start.
    static func quotedEnd(_ bytes: [UInt8]) -> Int? {
        var k = 1
        while k < bytes.count {
            if bytes[k] == 0x5C { k += 2; continue }
            if bytes[k] == 0x22 { return k + 1 }
            k += 1
        }
        return nil
    }

    /// The mailbox if the bytes are one (with or without the length limits), else nil.
    static func grammar(_ bytes: [UInt8], allowUTF8: Bool, limits: Bool) -> Result? {
        guard let at = localPartEnd(bytes) else { return nil }
        let local = Array(bytes[..<at])
        guard localPart(local, allowUTF8: allowUTF8), !limits || local.count <= 64,
            let host = host(Array(bytes[(at + 1)...]), allowUTF8: allowUTF8, limits: limits)
        else { return nil }
        return .mailbox(local: local, host: host)
    }

    /// `Local-part = Dot-string / Quoted-string`.
    static func localPart(_ local: [UInt8], allowUTF8: Bool) -> Bool {
        if allowUTF8 ? !validUTF8(local) : local.contains(where: { $0 >= 0x80 }) { return false }
        if local.first == 0x22 {
            // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 / %d35-91 / %d93-126;
            // quoted-pairSMTP = "\" %d32-126.
            guard local.count >= 2, local.last == 0x22 else { return false }
            var inner = local.dropFirst().dropLast()[...]
            while let c = inner.popFirst() {
                if c == 0x5C {
                    guard let next = inner.popFirst(), (32...126).contains(next) else { return false }
                } else if c == 0x22 || (c < 32 || c == 127) {
                    return false
                }
            }
            return true
        }
        // Dot-string = Atom *("." Atom); Atom = 1*atext.
        return local.split(separator: 0x2E, omittingEmptySubsequences: false).allSatisfy { atom in
            !atom.isEmpty && atom.allSatisfy { isLetDig($0) || atextSpecials.contains($0) || $0 >= 0x80 }
        }
    }

    /// `Domain / address-literal`, canonical.
    static func host(_ host: [UInt8], allowUTF8: Bool, limits: Bool) -> String? {
        if host.first == 0x5B { return addressLiteral(host) }
        return domain(host, allowUTF8: allowUTF8, limits: limits) ? String(decoding: host, as: UTF8.self) : nil
    }

    /// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]` (or a U-label
    /// under RFC 6531), each label at most 63 octets (RFC 1035 §2.3.4), the whole at most 255.
    public static func domain(_ d: [UInt8], allowUTF8: Bool, limits: Bool = true) -> Bool {
        if allowUTF8 ? !validUTF8(d) : d.contains(where: { $0 >= 0x80 }) { return false }
        guard !limits || d.count <= 255 else { return false }
        return d.split(separator: 0x2E, omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count) && label.first != 0x2D && label.last != 0x2D
                && label.allSatisfy { isLetDig($0) || $0 == 0x2D || $0 >= 0x80 }
        }
    }

    /// RFC 5321 §4.1.3 `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
    /// General-address-literal ) "]"`; a literal tagged `IPv6` is read as IPv6 only.
    public static func addressLiteral(_ lit: [UInt8]) -> String? {
        guard lit.count >= 2, lit.first == 0x5B, lit.last == 0x5D else { return nil }
        let content = Array(lit.dropFirst().dropLast())
        // dcontent = %d33-90 / %d94-126
        guard content.allSatisfy({ (33...90).contains($0) || (94...126).contains($0) }) else { return nil }
        let text = String(decoding: content, as: UTF8.self)
        guard let colon = content.firstIndex(of: 0x3A) else { return ipv4(text) ? "[\(text)]" : nil }
        let tag = String(decoding: content[..<colon], as: UTF8.self)
        let rest = String(decoding: content[(colon + 1)...], as: UTF8.self)
        if tag.lowercased() == "ipv6" { return ipv6(rest) ? "[IPv6:\(rest)]" : nil }
        // General-address-literal = Standardized-tag ":" 1*dcontent; Standardized-tag = Ldh-str.
        guard let last = tag.utf8.last, isLetDig(last), tag.utf8.allSatisfy({ isLetDig($0) || $0 == 0x2D }), !rest.isEmpty else { return nil }
        return "[\(text)]"
    }

    /// `IPv4-address-literal = Snum 3("." Snum)`, Snum 1–3 digits worth 0–255.
    static func ipv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in (1...3).contains(p.count) && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p).map { $0 <= 255 } == true }
    }

    /// RFC 5321 §4.1.3 `IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp`: eight
    /// groups, or six and an IPv4 address; compressed, "::" stands for at least two groups, so at
    /// most six groups (four with an IPv4 address) may be written beside it.
    static func ipv6(_ s: String) -> Bool {
        var hexPart = Substring(s)
        var v4 = false
        if s.contains(".") {
            // The IPv4 tail follows the last colon; one colon before it goes, "::" stays.
            guard let colon = s.lastIndex(of: ":"), ipv4(String(s[s.index(after: colon)...])) else { return false }
            v4 = true
            hexPart = s[...colon]
            if !hexPart.hasSuffix("::") { hexPart = hexPart.dropLast() }
        }
        let sides = hexPart.split(separator: "::", omittingEmptySubsequences: false)
        guard sides.count <= 2 else { return false }
        var count = 0
        for side in sides where !side.isEmpty {
            let groups = side.split(separator: ":", omittingEmptySubsequences: false)
            guard groups.allSatisfy({ (1...4).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isHexDigit } }) else { return false }
            count += groups.count
        }
        let room = v4 ? 6 : 8
        return sides.count == 2 ? count <= room - 2 : count == room
    }
}

/// RFC 5321 §4.1.1 command lines (without CRLF), as smtpsim reads them: verbs and keywords
/// case-insensitive, trailing spaces tolerated, one SP after the verb, 512 octets a line and
/// 12,288 for AUTH (RFC 4954 §4), CRLF counted; no control octets; 8-bit octets only in
/// addresses and parameters under SMTPUTF8. A command's value is its verb and its fields as text.
public enum ReferenceCommand {
    public enum Result: Equatable {
        case command([String])
        case refused(Set<SMTPError.Code>)
    }

    static func text(_ b: some Collection<UInt8>) -> String { String(decoding: Array(b), as: UTF8.self) }
    /// Upper-cased ASCII letters (RFC 5321 §2.4: verbs and keywords are case-insensitive).
    static func upper(_ b: some Collection<UInt8>) -> String { String(decoding: b.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self) }
    static func refuse(_ codes: SMTPError.Code...) -> Result { .refused(Set(codes)) }

    public static func parse(_ full: [UInt8], smtpUTF8: Bool) -> Result {
        var line = full[...]
        while line.last == 0x20 { line = line.dropLast() }
        let verbEnd = line.firstIndex(of: 0x20) ?? line.endIndex
        let verb = upper(line[..<verbEnd])
        if full.count + 2 > (verb == "AUTH" ? 12_288 : 512) { return refuse(.lineTooLong) }
        if line.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) { return refuse(.invalidCharacter) }
        let argument: ArraySlice<UInt8>? = verbEnd < line.endIndex ? line[(verbEnd + 1)...] : nil
        switch verb {
        case "EHLO", "HELO":
            guard let a = argument, !a.isEmpty else { return refuse(.missingArgument) }
            let ok = a.first == 0x5B && verb == "EHLO" ? ReferenceMailbox.addressLiteral(Array(a)) != nil : ReferenceMailbox.domain(Array(a), allowUTF8: false)
            return ok ? .command([verb, text(a)]) : refuse(.syntaxError)
        case "DATA", "RSET", "QUIT", "STARTTLS":
            return argument == nil ? .command([verb]) : refuse(.unexpectedArgument)
        case "NOOP", "HELP", "VRFY":
            guard let a = argument, verb != "VRFY" || !a.isEmpty else { return verb == "VRFY" ? refuse(.missingArgument) : .command([verb]) }
            return a.contains(where: { $0 >= 0x80 }) ? refuse(.invalidCharacter) : .command([verb, text(a)])
        case "BDAT":
            guard let a = argument, !a.isEmpty else { return refuse(.missingArgument) }
            let words = a.split(separator: 0x20, maxSplits: 1, omittingEmptySubsequences: false)
            // chunk-size = 1*DIGIT, in 64 bits; what follows the digits must be SP "LAST".
            let digits = words[0].prefix { (0x30...0x39).contains($0) }
            guard !digits.isEmpty, let size = UInt64(text(digits)) else { return refuse(.invalidChunkSize) }
            guard digits.count == words[0].count else { return refuse(.syntaxError) }
            if words.count == 1 { return .command(["BDAT", "\(size)"]) }
            return upper(words[1]) == "LAST" ? .command(["BDAT", "\(size)", "LAST"]) : refuse(.syntaxError)
        case "AUTH":
            // RFC 4422 §3.1 sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_"), read without case.
            guard let a = argument, !a.isEmpty else { return refuse(.missingArgument) }
            let words = a.split(separator: 0x20, maxSplits: 1, omittingEmptySubsequences: false)
            let mechanism = upper(words[0])
            guard (1...20).contains(words[0].count), mechanism.utf8.allSatisfy({ ReferenceMailbox.isLetDig($0) || $0 == 0x2D || $0 == 0x5F }) else {
                return refuse(.syntaxError)
            }
            guard words.count == 2 else { return .command(["AUTH", mechanism]) }
            // The initial response (base64 or "=", RFC 4954 §4) is judged by the SASL layer.
            guard !words[1].isEmpty, !words[1].contains(0x20) else { return refuse(.syntaxError) }
            return .command(["AUTH", mechanism, text(words[1])])
        case "MAIL", "RCPT":
            return envelope(verb, argument, smtpUTF8: smtpUTF8)
        default:
            return .command([text(line[..<verbEnd]), argument.map { text($0) } ?? ""])
        }
    }

    /// `MAIL FROM:Reverse-path [SP Mail-parameters]`, `RCPT TO:Forward-path [SP Rcpt-parameters]`.
    static func envelope(_ verb: String, _ argument: ArraySlice<UInt8>?, smtpUTF8: Bool) -> Result {
        let mail = verb == "MAIL"
        let keyword = mail ? "FROM:" : "TO:"
        guard let a = argument, a.count >= keyword.utf8.count, upper(a.prefix(keyword.utf8.count)) == keyword else { return refuse(.syntaxError) }
        let rest = Array(a.dropFirst(keyword.utf8.count))
        guard let first = rest.first else { return refuse(.missingArgument) }
        if first == 0x20 { return refuse(.syntaxError) }  // §4.1.2: no space beside the colon
        let utf8 = mail || smtpUTF8
        let path: String
        let pathEnd: Int
        switch self.path(rest, allowUTF8: utf8, allowNull: mail, allowPostmaster: !mail) {
        case .failure(let failure): return .refused(failure.classes)
        case .success(let found): (path, pathEnd) = found
        }
        // Mail-parameters = esmtp-param *(SP esmtp-param); SPs between them and at the end tolerated.
        let tail = rest[pathEnd...]
        if let c = tail.first, c != 0x20 { return refuse(.invalidParameter) }
        var params: [(keyword: String, value: String?)] = []
        var seen: Set<String> = []
        for word in tail.split(separator: 0x20) {
            let parts = word.split(separator: 0x3D, maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
            guard let k0 = key.first, ReferenceMailbox.isLetDig(k0), key.allSatisfy({ ReferenceMailbox.isLetDig($0) || $0 == 0x2D }) else {
                return refuse(.invalidParameter)
            }
            var value: String?
            if parts.count == 2 {
                // esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 under SMTPUTF8 (RFC 6531 §3.3)
                let v = parts[1]
                guard !v.isEmpty, v.allSatisfy({ (33...60).contains($0) || (62...126).contains($0) || ($0 >= 0x80 && utf8) }) else {
                    return refuse(.invalidParameter)
                }
                guard ReferenceMailbox.validUTF8(v) else { return refuse(.invalidParameter) }
                value = text(v)
            }
            guard seen.insert(upper(key)).inserted else { return refuse(.duplicateParameter) }
            params.append((text(key), value))
        }
        var fields = [verb, path]
        var hasSMTPUTF8 = false
        for p in params {
            let key = p.keyword.uppercased()
            guard mail else { fields.append(p.value.map { "\(p.keyword)=\($0)" } ?? p.keyword); continue }
            switch key {
            case "SIZE":
                // RFC 1870 §3 size-value = 1*20DIGIT
                guard let v = p.value, (1...20).contains(v.count), v.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(v) else { return refuse(.invalidParameter) }
                fields.append("SIZE=\(n)")
            case "BODY":
                guard let v = p.value?.uppercased(), ["7BIT", "8BITMIME", "BINARYMIME"].contains(v) else { return refuse(.invalidParameter) }
                fields.append("BODY=\(v)")
            case "SMTPUTF8", "REQUIRETLS":
                guard p.value == nil else { return refuse(.invalidParameter) }
                hasSMTPUTF8 = hasSMTPUTF8 || key == "SMTPUTF8"
                fields.append(key)
            case "AUTH":
                guard let v = p.value else { return refuse(.invalidParameter) }
                fields.append("AUTH=\(v)")
            default:
                fields.append(p.value.map { "\(p.keyword)=\($0)" } ?? p.keyword)
            }
        }
        // RFC 6531 §3.4: UTF-8 in MAIL only with its SMTPUTF8 parameter.
        if mail, !hasSMTPUTF8, path.utf8.contains(where: { $0 >= 0x80 }) || params.contains(where: { $0.value?.utf8.contains { $0 >= 0x80 } == true }) {
            return refuse(.utf8NotAllowed)
        }
        return .command([fields[0], fields[1]] + fields.dropFirst(2).sorted())
    }

    /// `Path = "<" [ A-d-l ":" ] Mailbox ">"` (the source route accepted and ignored, RFC 5321
    /// §4.1.2 and Appendix C), `<>` where allowed, `<Postmaster>` where allowed; at most 256
    /// octets (§4.5.3.1.3). Returns the canonical path and where it ends.
    static func path(_ b: [UInt8], allowUTF8: Bool, allowNull: Bool, allowPostmaster: Bool) -> Swift.Result<(String, Int), Failure> {
        let address: Set<SMTPError.Code> = allowUTF8 || !b.contains(where: { $0 >= 0x80 }) ? [.invalidAddress] : [.invalidAddress, .utf8NotAllowed]
        guard b.first == 0x3C else { return .failure(Failure(address)) }
        // The closing ">": the first one after a quoted local-part (which may hold one). A
        // source route (no quotes, no ">") comes first; the local-part starts after its ":".
        var k = 1
        if b.count > 1, b[1] == 0x40, let colon = b.firstIndex(of: 0x3A), b[..<colon].firstIndex(of: 0x3E) == nil { k = colon + 1 }
        if k < b.count, b[k] == 0x22, let close = ReferenceMailbox.quotedEnd(Array(b[k...])) { k += close }
        // An address literal may hold ">" too (dcontent, RFC 5321 §4.1.3): the path ends after its "]".
        if let at = b[k...].firstIndex(of: 0x40), b[k..<at].firstIndex(of: 0x3E) == nil, at + 1 < b.count, b[at + 1] == 0x5B,
            let close = b[(at + 1)...].firstIndex(of: 0x5D) {
            k = close
        }
        let end = b[k...].firstIndex(of: 0x3E)
        guard let end else {
            // No ">": what there is may still have broken a limit first (a local-part too long).
            var rest = Array(b.dropFirst())
            if rest.first == 0x40, let colon = rest.firstIndex(of: 0x3A) { rest = Array(rest[(colon + 1)...]) }
            if case .refused(let classes) = ReferenceMailbox.parse(rest, allowUTF8: allowUTF8) { return .failure(Failure(address.union(classes))) }
            return .failure(Failure(address))
        }
        var inner = Array(b[1..<end])
        if inner.isEmpty { return allowNull ? .success(("<>", end + 1)) : .failure(Failure(address)) }
        if inner.first == 0x40 {
            // A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain
            guard let colon = inner.firstIndex(of: 0x3A) else { return .failure(Failure(address)) }
            for hop in inner[..<colon].split(separator: 0x2C, omittingEmptySubsequences: false) {
                guard hop.first == 0x40, ReferenceMailbox.domain(Array(hop.dropFirst()), allowUTF8: allowUTF8) else {
                    return .failure(Failure(address.union(hop.count > 256 ? [.pathTooLong] : [])))
                }
            }
            inner = Array(inner[(colon + 1)...])
        }
        if allowPostmaster, upper(inner) == "POSTMASTER" { return .success(("<Postmaster>", end + 1)) }
        switch ReferenceMailbox.parse(inner, allowUTF8: allowUTF8) {
        // An unterminated quoted local-part runs on past this ">" in the parser: what follows
        // may be the fault it meets first (an 8-bit octet without SMTPUTF8).
        case .refused(let classes): return .failure(Failure(inner.first == 0x22 ? classes.union(address) : classes))
        case .mailbox(let local, let host):
            guard end + 1 <= 256 else { return .failure(Failure([.pathTooLong])) }
            return .success(("<\(text(local))@\(host)>", end + 1))
        }
    }

    struct Failure: Error {
        let classes: Set<SMTPError.Code>
        init(_ classes: Set<SMTPError.Code>) { self.classes = classes }
    }
}

/// RFC 5321 §4.1.1.1 EHLO replies: `ehlo-line = ehlo-keyword *( SP ehlo-param )`,
/// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`, `ehlo-param = 1*(%d33-126)`; the
/// extensions smtpsim knows take what their RFCs say (none for STARTTLS, PIPELINING, 8BITMIME,
/// ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME, SMTPUTF8, REQUIRETLS; `SIZE [1*20DIGIT]`), AUTH
/// lists mechanisms (and the old `AUTH=MECH …` form is read as AUTH). Runs of spaces separate
/// like one. The value: each extension as `KEYWORD param…`, known keywords upper-cased.
public enum ReferenceEHLO {
    public static func extensions(code: Int, lines: [[UInt8]]) -> [String]? {
        guard code == 250 else { return nil }
        var out: [String] = []
        for line in lines.dropFirst() {
            var words = line.split(separator: 0x20).map { ReferenceCommand.text($0) }
            guard var keyword = words.first else { return nil }
            words.removeFirst()
            if keyword.uppercased().hasPrefix("AUTH=") {
                let first = String(keyword.dropFirst(5))
                if !first.isEmpty { words.insert(first, at: 0) }
                keyword = "AUTH"
            }
            guard let k0 = keyword.utf8.first, ReferenceMailbox.isLetDig(k0),
                keyword.utf8.allSatisfy({ ReferenceMailbox.isLetDig($0) || $0 == 0x2D }),
                words.allSatisfy({ $0.utf8.allSatisfy { (33...126).contains($0) } })
            else { return nil }
            let upper = keyword.uppercased()
            switch upper {
            case "STARTTLS", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "SMTPUTF8", "REQUIRETLS":
                guard words.isEmpty else { return nil }
                out.append(upper)
            case "SIZE":
                guard words.count <= 1 else { return nil }
                if let w = words.first {
                    guard (1...20).contains(w.count), w.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(w) else { return nil }
                    out.append("SIZE \(n)")
                } else {
                    out.append("SIZE")
                }
            case "AUTH":
                out.append((["AUTH"] + words.map { $0.uppercased() }).joined(separator: " "))
            default:
                out.append(([keyword] + words).joined(separator: " "))
            }
        }
        return out
    }
}
