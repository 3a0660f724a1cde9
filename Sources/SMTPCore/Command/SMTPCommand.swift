/// One SMTP command as a value (RFC 5321 §4.1.1; RFC 3207 §4; RFC 4954 §4; RFC 3030 §2).
public enum SMTPCommand: Hashable, Sendable {
    /// `EHLO SP ( Domain / address-literal )`, argument as written.
    case ehlo(String)
    /// `HELO SP Domain`.
    case helo(String)
    /// `MAIL FROM:Reverse-path [SP Mail-parameters]`.
    case mail(ReversePath, MailParameters)
    /// `RCPT TO:Forward-path [SP Rcpt-parameters]`.
    case rcpt(ForwardPath, RcptParameters)
    /// `DATA`.
    case data
    /// `BDAT SP chunk-size [SP "LAST"]` (RFC 3030 §2).
    case bdat(size: UInt64, last: Bool)
    /// `RSET`.
    case rset
    /// `NOOP [SP String]`.
    case noop(String?)
    /// `QUIT`.
    case quit
    /// `VRFY SP String`.
    case vrfy(String)
    /// `HELP [SP String]`.
    case help(String?)
    /// `STARTTLS` (RFC 3207 §4: no parameters).
    case startTLS
    /// `AUTH SP mechanism [SP initial-response]` (RFC 4954 §4); `=` stands for an empty response.
    case auth(mechanism: String, initialResponse: String?)
    /// Any other verb; a server answers 500 5.5.2 (RFC 5321 §4.2.4).
    case unknown(verb: String, arguments: String)

    /// The verb as sent on the wire.
    public var verb: String {
        switch self {
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .bdat: "BDAT"
        case .rset: "RSET"
        case .noop: "NOOP"
        case .quit: "QUIT"
        case .vrfy: "VRFY"
        case .help: "HELP"
        case .startTLS: "STARTTLS"
        case .auth: "AUTH"
        case .unknown(let verb, _): verb
        }
    }

    /// Appends the command line, CRLF included. Throws (`fault: .local`) when a value would break
    /// the grammar on the wire: a CR, LF or NUL inside an argument (docs/catalog.md F3; RFC 5321 §2.3.8),
    /// or an argument the verb does not allow.
    public func write(into out: inout [UInt8]) throws(SMTPError) {
        let start = out.count
        switch self {
        case .ehlo(let domain): try Self.line(&out, "EHLO", domain)
        case .helo(let domain): try Self.line(&out, "HELO", domain)
        case .mail(let path, let params):
            out.append(contentsOf: "MAIL FROM:".utf8)
            path.write(into: &out)
            try Self.parameters(&out, params.all)
        case .rcpt(let path, let params):
            out.append(contentsOf: "RCPT TO:".utf8)
            path.write(into: &out)
            try Self.parameters(&out, params.all)
        case .data: out.append(contentsOf: "DATA".utf8)
        case .bdat(let size, let last):
            out.append(contentsOf: "BDAT \(size)".utf8)
            if last { out.append(contentsOf: " LAST".utf8) }
        case .rset: out.append(contentsOf: "RSET".utf8)
        case .noop(let text): try Self.line(&out, "NOOP", text)
        case .quit: out.append(contentsOf: "QUIT".utf8)
        case .vrfy(let text): try Self.line(&out, "VRFY", text)
        case .help(let text): try Self.line(&out, "HELP", text)
        case .startTLS: out.append(contentsOf: "STARTTLS".utf8)
        case .auth(let mechanism, let response):
            try Self.line(&out, "AUTH", response.map { "\(mechanism) \($0)" } ?? mechanism)
        case .unknown(let verb, let arguments):
            try Self.line(&out, verb, arguments.isEmpty ? nil : arguments)
        }
        for index in start..<out.count {
            let b = out[index]
            if b == ASCII.cr || b == ASCII.lf || b == ASCII.nul {
                out.removeSubrange(start...)
                throw SMTPError(
                    .invalidCharacter, fault: .local, offset: index - start,
                    detail: "\(verb) argument holds \(ASCII.escaped([b])), which would end or break the line"
                )
            }
        }
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    /// The command line, CRLF included (see `write(into:)`).
    public func wire() throws(SMTPError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        try write(into: &out)
        return out
    }

    private static func line(_ out: inout [UInt8], _ verb: String, _ argument: String?) throws(SMTPError) {
        out.append(contentsOf: verb.utf8)
        if let argument {
            out.append(ASCII.space)
            out.append(contentsOf: argument.utf8)
        }
    }

    private static func parameters(_ out: inout [UInt8], _ params: [ESMTPParameter]) throws(SMTPError) {
        for p in params {
            if p.keyword.isEmpty || p.keyword.utf8.contains(where: { !(ASCII.isAlphaNum($0) || $0 == ASCII.hyphen) })
                || p.value?.utf8.contains(where: { $0 == ASCII.space || $0 == ASCII.equals }) == true
                || p.value?.isEmpty == true
            {
                throw SMTPError(.invalidParameter, fault: .local, detail: "cannot send parameter \(p)")
            }
            out.append(ASCII.space)
            out.append(contentsOf: p.description.utf8)
        }
    }
}

extension SMTPCommand: CustomStringConvertible {
    /// The command line without CRLF, as it would be sent (escaped where it could not be).
    public var description: String {
        guard let bytes = try? wire() else { return "\(verb) <unencodable>" }
        return String(decoding: bytes.dropLast(2), as: UTF8.self)
    }
}
