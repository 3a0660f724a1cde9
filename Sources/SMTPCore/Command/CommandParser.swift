/// Parses one command line (without its CRLF) into an `SMTPCommand` (RFC 5321 §4.1.1).
///
/// Rules:
/// - Verbs and the `FROM:`/`TO:` keywords are case-insensitive (RFC 5321 §2.4).
/// - A verb the parser does not know becomes `.unknown` (the server answers 500 5.5.2);
///   known verbs with arguments they forbid (`STARTTLS foo`, `DATA x`) are errors carrying the
///   501 reply, never silently accepted (RFC 3207 §4).
/// - No space is allowed after `FROM:`/`TO:` (RFC 5321 §4.1.2, "spaces are not permitted on either
///   side of the colon"). Trailing spaces at the end of a line are tolerated.
/// - Line limits: 512 octets for a command line (§4.5.3.1.4), `limits.authLine` for AUTH
///   (RFC 4954 §4), CRLF counted.
/// - NUL and other control bytes are refused; 8-bit bytes only inside addresses and parameters
///   under SMTPUTF8 (RFC 6531).
public struct CommandParser: Sendable {
    public var limits: SMTPLimits

    public init(limits: SMTPLimits = .rfc) {
        self.limits = limits
    }

    /// - Parameter smtpUTF8: the current transaction's MAIL carried SMTPUTF8, so RCPT paths may
    ///   hold UTF-8 (RFC 6531 §3.4). MAIL decides for itself from its own parameters.
    public func parse(_ line: ArraySlice<UInt8>, smtpUTF8: Bool = false) throws(SMTPError) -> SMTPCommand {
        try line.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(SMTPError) -> SMTPCommand in
            try parse(b, smtpUTF8: smtpUTF8)
        }
    }

    public func parse(_ line: [UInt8], smtpUTF8: Bool = false) throws(SMTPError) -> SMTPCommand {
        try parse(line[...], smtpUTF8: smtpUTF8)
    }

    public func parse(_ line: String, smtpUTF8: Bool = false) throws(SMTPError) -> SMTPCommand {
        try parse(Array(line.utf8)[...], smtpUTF8: smtpUTF8)
    }

    private typealias Bytes = UnsafeBufferPointer<UInt8>

    private func parse(_ full: Bytes, smtpUTF8: Bool) throws(SMTPError) -> SMTPCommand {
        // Trailing spaces are tolerated; everything else is significant.
        var end = full.count
        while end > 0, full[end - 1] == ASCII.space { end -= 1 }
        let b = Bytes(rebasing: full[0..<end])

        var verbEnd = 0
        while verbEnd < b.count, b[verbEnd] != ASCII.space { verbEnd += 1 }
        let verb = Verb(Bytes(rebasing: b[0..<verbEnd]))

        let limit = verb == .auth ? limits.authLine : limits.commandLine
        if full.count + 2 > limit {
            throw SMTPError(
                .lineTooLong, reply: verb == .auth ? .authLineTooLong : .lineTooLong,
                detail: "command line of \(full.count + 2) octets, limit \(limit)"
            )
        }
        for index in 0..<b.count where b[index] < ASCII.space && b[index] != ASCII.tab || b[index] == 0x7F {
            throw SMTPError(
                .invalidCharacter, reply: .invalidCharacters, offset: index,
                detail: "control byte \(ASCII.escaped([b[index]])) in command line"
            )
        }
        // The argument starts after exactly one SP.
        let argStart = verbEnd + 1
        let hasArgument = verbEnd < b.count
        let argument = hasArgument ? Bytes(rebasing: b[argStart...]) : Bytes(start: nil, count: 0)

        switch verb {
        case .ehlo:
            return .ehlo(try helloArgument(argument, at: argStart, verb: "EHLO", allowLiteral: true))
        case .helo:
            return .helo(try helloArgument(argument, at: argStart, verb: "HELO", allowLiteral: false))
        case .mail:
            return try mail(b, argStart: argStart, hasArgument: hasArgument)
        case .rcpt:
            return try rcpt(b, argStart: argStart, hasArgument: hasArgument, smtpUTF8: smtpUTF8)
        case .data:
            try noArgument(hasArgument, "DATA", at: verbEnd)
            return .data
        case .rset:
            try noArgument(hasArgument, "RSET", at: verbEnd)
            return .rset
        case .quit:
            try noArgument(hasArgument, "QUIT", at: verbEnd)
            return .quit
        case .startTLS:
            try noArgument(hasArgument, "STARTTLS", at: verbEnd)
            return .startTLS
        case .noop:
            return .noop(hasArgument ? try text(argument, at: argStart) : nil)
        case .help:
            return .help(hasArgument ? try text(argument, at: argStart) : nil)
        case .vrfy:
            guard hasArgument, !argument.isEmpty else { throw missing("VRFY needs an argument", at: verbEnd) }
            return .vrfy(try text(argument, at: argStart))
        case .bdat:
            return try bdat(argument, hasArgument: hasArgument, at: argStart)
        case .auth:
            return try auth(argument, hasArgument: hasArgument, at: argStart)
        case .other:
            let verbBytes = Bytes(rebasing: b[0..<verbEnd])
            return .unknown(
                verb: String(decoding: verbBytes, as: UTF8.self),
                arguments: hasArgument ? String(decoding: argument, as: UTF8.self) : ""
            )
        }
    }

    private enum Verb: Equatable {
        case ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, help, startTLS, auth, other

        /// Matches the verb on its upper-cased bytes packed into an integer: no allocation.
        init(_ v: UnsafeBufferPointer<UInt8>) {
            if v.count == 4 {
                let word =
                    UInt32(ASCII.upper(v[0])) << 24 | UInt32(ASCII.upper(v[1])) << 16 | UInt32(ASCII.upper(v[2])) << 8
                    | UInt32(ASCII.upper(v[3]))
                switch word {
                case 0x4548_4C4F: self = .ehlo  // EHLO
                case 0x4845_4C4F: self = .helo  // HELO
                case 0x4D41_494C: self = .mail  // MAIL
                case 0x5243_5054: self = .rcpt  // RCPT
                case 0x4441_5441: self = .data  // DATA
                case 0x4244_4154: self = .bdat  // BDAT
                case 0x5253_4554: self = .rset  // RSET
                case 0x4E4F_4F50: self = .noop  // NOOP
                case 0x5155_4954: self = .quit  // QUIT
                case 0x5652_4659: self = .vrfy  // VRFY
                case 0x4845_4C50: self = .help  // HELP
                case 0x4155_5448: self = .auth  // AUTH
                default: self = .other
                }
            } else if ASCII.equalsIgnoringCase(v, "STARTTLS") {
                self = .startTLS
            } else {
                self = .other
            }
        }
    }

    // MARK: - Verbs

    private func helloArgument(_ a: Bytes, at offset: Int, verb: String, allowLiteral: Bool) throws(SMTPError) -> String {
        guard !a.isEmpty else { throw missing("\(verb) needs a domain", at: offset) }
        var i = 0
        do {
            if allowLiteral, a[0] == ASCII.openBracket {
                _ = try PathParser.addressLiteral(a, &i)
            } else {
                _ = try PathParser.domain(a, &i, limits: limits, allowUTF8: false)
            }
        } catch {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: (error.offset ?? 0) + offset, detail: "\(verb): \(error.detail)")
        }
        guard i == a.count else {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: offset + i, detail: "\(verb): unexpected text after the domain")
        }
        return ASCII.string(a)
    }

    private func mail(_ b: Bytes, argStart: Int, hasArgument: Bool) throws(SMTPError) -> SMTPCommand {
        var i = try keyword(b, argStart: argStart, hasArgument: hasArgument, "FROM:")
        let pathStart = i
        let path: PathParser.PathValue
        do {
            path = try PathParser.path(b, &i, limits: limits, allowUTF8: true, allowNull: true, allowPostmaster: false)
        } catch {
            throw addressError(error, sender: true)
        }
        let params = try ParameterParser.mailParameters(try ParameterParser.parameters(b, from: i, allowUTF8: true))
        let reverse: ReversePath
        switch path {
        case .null: reverse = .null
        case .mailbox(let m): reverse = .mailbox(m)
        case .postmaster: preconditionFailure("postmaster path not allowed in MAIL")
        }
        if !params.smtpUTF8 {
            // RFC 6531 §3.4: UTF-8 in the envelope only with the SMTPUTF8 parameter.
            if case .mailbox(let m) = reverse, m.requiresSMTPUTF8 {
                throw SMTPError(.utf8NotAllowed, reply: .utf8NotAllowed, offset: pathStart, detail: "UTF-8 sender without SMTPUTF8")
            }
            // Every parameter's value, AUTH='s xtext too (RFC 4954 §5, RFC 3461 §4: ASCII only;
            // found by the CommandLine target, which the RFC model refused and the parser took).
            if params.auth?.utf8.contains(where: { $0 >= 0x80 }) == true || params.other.contains(where: { $0.value?.utf8.contains { $0 >= 0x80 } == true }) {
                throw SMTPError(.utf8NotAllowed, reply: .utf8NotAllowed, offset: i, detail: "UTF-8 parameter without SMTPUTF8")
            }
        }
        return .mail(reverse, params)
    }

    private func rcpt(_ b: Bytes, argStart: Int, hasArgument: Bool, smtpUTF8: Bool) throws(SMTPError) -> SMTPCommand {
        var i = try keyword(b, argStart: argStart, hasArgument: hasArgument, "TO:")
        let path: PathParser.PathValue
        do {
            path = try PathParser.path(b, &i, limits: limits, allowUTF8: smtpUTF8, allowNull: false, allowPostmaster: true)
        } catch {
            throw addressError(error, sender: false)
        }
        let params = RcptParameters(other: try ParameterParser.parameters(b, from: i, allowUTF8: smtpUTF8))
        switch path {
        case .null: preconditionFailure("null path not allowed in RCPT")
        case .postmaster: return .rcpt(.postmaster, params)
        case .mailbox(let m): return .rcpt(.mailbox(m), params)
        }
    }

    /// Checks `FROM:` / `TO:` right after the verb's SP, returns the index after it.
    private func keyword(_ b: Bytes, argStart: Int, hasArgument: Bool, _ word: StaticString) throws(SMTPError) -> Int {
        let n = word.utf8CodeUnitCount
        guard hasArgument, argStart + n <= b.count, ASCII.equalsIgnoringCase(Bytes(rebasing: b[argStart..<(argStart + n)]), word)
        else {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: argStart, detail: "expected \(word)")
        }
        let i = argStart + n
        guard i < b.count else { throw missing("missing path after \(word)", at: i) }
        guard b[i] != ASCII.space else {
            throw SMTPError(
                .syntaxError, reply: .syntaxError, offset: i,
                detail: "space after \(word) (RFC 5321 §4.1.2 forbids it)"
            )
        }
        return i
    }

    private func addressError(_ error: SMTPError, sender: Bool) -> SMTPError {
        switch error.code {
        case .pathTooLong: error.replying(sender ? .senderPathTooLong : .recipientPathTooLong)
        case .utf8NotAllowed: error.replying(.utf8NotAllowed)
        default: error.replying(sender ? .badSenderAddress : .badRecipientAddress)
        }
    }

    private func bdat(_ a: Bytes, hasArgument: Bool, at offset: Int) throws(SMTPError) -> SMTPCommand {
        guard hasArgument, !a.isEmpty else { throw missing("BDAT needs a chunk size", at: offset) }
        var i = 0
        var size: UInt64 = 0
        while i < a.count, ASCII.isDigit(a[i]) {
            let (m, o1) = size.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(a[i] &- ASCII.zero))
            guard !o1, !o2 else {
                throw SMTPError(.invalidChunkSize, reply: .syntaxError, offset: offset, detail: "chunk size does not fit in 64 bits")
            }
            size = s
            i += 1
        }
        guard i > 0 else {
            throw SMTPError(.invalidChunkSize, reply: .syntaxError, offset: offset, detail: "chunk size must be digits")
        }
        if i == a.count { return .bdat(size: size, last: false) }
        guard a[i] == ASCII.space, ASCII.equalsIgnoringCase(Bytes(rebasing: a[(i + 1)...]), "LAST") else {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: offset + i, detail: "expected LAST after the chunk size")
        }
        return .bdat(size: size, last: true)
    }

    private func auth(_ a: Bytes, hasArgument: Bool, at offset: Int) throws(SMTPError) -> SMTPCommand {
        guard hasArgument, !a.isEmpty else { throw missing("AUTH needs a mechanism", at: offset) }
        var i = 0
        // RFC 4422 §3.1: sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_"
        while i < a.count, a[i] != ASCII.space {
            let c = ASCII.upper(a[i])
            guard ASCII.isAlphaNum(c) || c == ASCII.hyphen || c == 0x5F else {
                throw SMTPError(.syntaxError, reply: .syntaxError, offset: offset + i, detail: "invalid SASL mechanism name")
            }
            i += 1
        }
        guard (1...20).contains(i) else {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: offset, detail: "SASL mechanism name of \(i) characters")
        }
        let mechanism = ASCII.string(Bytes(rebasing: a[0..<i])).uppercased()
        guard i < a.count else { return .auth(mechanism: mechanism, initialResponse: nil) }
        let response = Bytes(rebasing: a[(i + 1)...])
        guard !response.isEmpty, !response.contains(ASCII.space) else {
            throw SMTPError(.syntaxError, reply: .syntaxError, offset: offset + i + 1, detail: "malformed initial response")
        }
        return .auth(mechanism: mechanism, initialResponse: ASCII.string(response))
    }

    private func text(_ a: Bytes, at offset: Int) throws(SMTPError) -> String {
        if let bad = a.firstIndex(where: { $0 >= 0x80 }) {
            throw SMTPError(.invalidCharacter, reply: .syntaxError, offset: offset + bad, detail: "8-bit byte in argument")
        }
        return ASCII.string(a)
    }

    private func noArgument(_ hasArgument: Bool, _ verb: String, at offset: Int) throws(SMTPError) {
        if hasArgument {
            throw SMTPError(
                .unexpectedArgument, reply: .noParametersAllowed, offset: offset, detail: "\(verb) takes no parameters"
            )
        }
    }

    private func missing(_ detail: String, at offset: Int) -> SMTPError {
        SMTPError(.missingArgument, reply: .syntaxError, offset: offset, detail: detail)
    }
}
