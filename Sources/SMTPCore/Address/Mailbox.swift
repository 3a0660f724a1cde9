/// A mailbox, `Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2).
///
/// The local-part is kept in its wire form (dot-string, or quoted-string with its quotes) because
/// it is case-sensitive and opaque to everyone but the final destination (RFC 5321 §2.4).
public struct Mailbox: Hashable, Sendable, CustomStringConvertible {
    public var localPart: String
    public var host: Host

    /// Builds a mailbox after checking it against RFC 5321 §4.1.2 and the limits of §4.5.3.1.
    public init(localPart: String, host: Host, limits: SMTPLimits = .rfc, allowUTF8: Bool = false) throws(SMTPError) {
        let wire = "\(localPart)@\(host)"
        let parsed = try PathParser.parseMailbox(Array(wire.utf8), limits: limits, allowUTF8: allowUTF8)
        guard parsed.localPart == localPart, parsed.host == host else {
            throw SMTPError(.invalidAddress, fault: .local, detail: "not a mailbox: \(ASCII.escaped(wire.utf8))")
        }
        self = parsed
    }

    /// Parses `local@domain` (no angle brackets).
    public init(_ text: String, limits: SMTPLimits = .rfc, allowUTF8: Bool = false) throws(SMTPError) {
        self = try PathParser.parseMailbox(Array(text.utf8), limits: limits, allowUTF8: allowUTF8)
    }

    init(uncheckedLocalPart: String, host: Host) {
        self.localPart = uncheckedLocalPart
        self.host = host
    }

    /// True when any part is outside US-ASCII (needs SMTPUTF8, RFC 6531 §3.3).
    public var requiresSMTPUTF8: Bool {
        localPart.utf8.contains { $0 >= 0x80 } || host.description.utf8.contains { $0 >= 0x80 }
    }

    public var description: String { String(decoding: wire, as: UTF8.self) }

    /// `local@host` as octets, written without building strings (every MAIL and RCPT line).
    public func write(into out: inout [UInt8]) {
        out += localPart.utf8
        out.append(UInt8(ascii: "@"))
        host.write(into: &out)
    }

    var wire: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }
}

extension Mailbox {
/// The part after "@": a domain name or an address literal (RFC 5321 §4.1.2, §4.1.3).
public enum Host: Hashable, Sendable, CustomStringConvertible {
    /// `Domain = sub-domain *("." sub-domain)`, as written.
    case domain(String)
    /// `[1.2.3.4]`, stored without brackets.
    case ipv4(String)
    /// `[IPv6:…]`, stored without brackets and without the `IPv6:` tag.
    case ipv6(String)
    /// `[tag:content]` (General-address-literal), stored without brackets.
    case general(tag: String, content: String)

    public var description: String {
        if case .domain(let d) = self { return d }
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .domain(let d): out += d.utf8
        case .ipv4(let a): out.append(UInt8(ascii: "[")); out += a.utf8; out.append(UInt8(ascii: "]"))
        case .ipv6(let a): out += "[IPv6:".utf8; out += a.utf8; out.append(UInt8(ascii: "]"))
        case .general(let tag, let content):
            out.append(UInt8(ascii: "[")); out += tag.utf8; out.append(UInt8(ascii: ":")); out += content.utf8; out.append(UInt8(ascii: "]"))
        }
    }
}
}

extension Mailbox {
    /// `<local@host>`.
    static func writeBracketed(_ m: Mailbox, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "<"))
        m.write(into: &out)
        out.append(UInt8(ascii: ">"))
    }
}

/// The argument of MAIL FROM: a mailbox, or `<>` for notifications (RFC 5321 §4.5.5).
public enum ReversePath: Hashable, Sendable, CustomStringConvertible {
    case null
    case mailbox(Mailbox)

    public var description: String {
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += "<>".utf8
        case .mailbox(let m): Mailbox.writeBracketed(m, into: &out)
        }
    }
}

/// The argument of RCPT TO: a mailbox, or the bare `<Postmaster>` every server must accept
/// (RFC 5321 §4.1.1.3, §4.5.1).
public enum ForwardPath: Hashable, Sendable, CustomStringConvertible {
    case postmaster
    case mailbox(Mailbox)

    public var description: String {
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .postmaster: out += "<Postmaster>".utf8
        case .mailbox(let m): Mailbox.writeBracketed(m, into: &out)
        }
    }
}
