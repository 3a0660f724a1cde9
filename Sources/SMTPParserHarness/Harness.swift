import SMTPCore

/// One entry function per fuzz target (docs/design.md rule 9), shared by the libFuzzer executables in
/// Fuzz/ and by the XCTest that replays every file under Corpus/. Expected protocol errors are
/// swallowed; a broken invariant traps (`check`), which libFuzzer reports as a crash.
///
/// The parser targets live here, in a module that depends on SMTPCore alone: a libFuzzer binary
/// scans every coverage counter it links after each input, so a parser target that linked the
/// simulator, the scenario loader and Yams paid for their counters on every execution. The
/// session targets and the list of every target are in SMTPHarness, which re-exports this module.
public enum Harness {
    public typealias Entry = @Sendable ([UInt8]) -> Void

    /// Crashes on inputs starting with `CRASH`, to prove a crash is caught and reported (not run
    /// by default).
    public static let canary: (name: String, entry: Entry) = ("Canary", { bytes in
        check(!(bytes.starts(with: Array("CRASH".utf8))), "the canary found its input")
    })


    /// Traps with a message when an invariant breaks.
    @inline(never)
    public static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
        if !condition() { fatalError("invariant broken: \(message())", file: file, line: line) }
    }

    // MARK: - Parsers

    /// Frames lines; every line is parsed as RFC 5321 §4.1.1's model (`ReferenceCommand`) says
    /// — same decision, same fields, same error class — outside a transaction and inside an
    /// SMTPUTF8 one. On what is accepted: the line within its limit, no CR, LF or NUL on the
    /// wire, and the command serialises to a line that parses back to it.
    public static func commandLine(_ bytes: [UInt8]) {
        var framer = LineFramer(maximumLineLength: SMTPLimits.rfcAuthLine)
        framer.append(bytes)
        let parser = CommandParser()
        var lines = 0
        while lines < 10_000 {
            let line: ArraySlice<UInt8>
            do {
                guard let l = try framer.next() else { break }
                line = l
            } catch {
                check(error.reply != nil, "framer error without a reply: \(error)")
                continue
            }
            lines += 1
            check(line.count + 2 <= SMTPLimits.rfcAuthLine, "a line past the framer's limit")
            // SMTPUTF8 changes only what 8-bit octets may do: an ASCII line is judged once.
            for smtpUTF8 in [false, true] where !smtpUTF8 || line.contains(where: { $0 >= 0x80 }) {
                let model = ReferenceCommand.parse(Array(line), smtpUTF8: smtpUTF8)
                let parsed: SMTPCommand
                do {
                    parsed = try parser.parse(line, smtpUTF8: smtpUTF8)
                } catch {
                    guard case .refused(let classes) = model, classes.contains(error.code) else {
                        check(false, "command \(String(decoding: line.prefix(80), as: UTF8.self).debugDescription) (SMTPUTF8 \(smtpUTF8)): refused as \(error.code), the RFC model says \(model)")
                        return
                    }
                    continue
                }
                check(model == .command(fields(of: parsed)), "command \(String(decoding: line.prefix(80), as: UTF8.self).debugDescription) (SMTPUTF8 \(smtpUTF8)): parsed as \(fields(of: parsed)), the RFC model says \(model)")
                guard !smtpUTF8 else { continue }
                // Values hold text: a line that is not UTF-8 (possible only in an unknown verb or its
                // arguments, which the server answers with 500) cannot come back byte for byte.
                guard String(validating: line, as: UTF8.self) != nil else { continue }
                guard let wire = try? parsed.wire() else { continue }  // e.g. an unknown verb holding a NUL
                check(!wire.dropLast(2).contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "CR, LF or NUL inside \(parsed)'s line")
                if case .unknown = parsed {} else {
                    check(wire.count <= (parsed.verb == "AUTH" ? SMTPLimits.rfcAuthLine : SMTPLimits.rfcCommandLine), "\(parsed) serialises past its line limit")
                }
                let again = try? parser.parse(Array(wire.dropLast(2)))
                check(again == parsed, "round trip changed \(parsed) into \(String(describing: again))")
            }
        }
        check(framer.bufferedByteCount <= bytes.count, "framer holds more than it was given")
    }

    /// A command as the models write it: its verb and its fields as text (parameters sorted).
    static func fields(of command: SMTPCommand) -> [String] {
        switch command {
        case .ehlo(let d), .helo(let d): [command.verb, d]
        case .mail(let path, let params): [command.verb, path.description] + params.all.map(\.description).sorted()
        case .rcpt(let path, let params): [command.verb, path.description] + params.all.map(\.description).sorted()
        case .data, .rset, .quit, .startTLS: [command.verb]
        case .noop(let t), .help(let t): [command.verb] + (t.map { [$0] } ?? [])
        case .vrfy(let t): [command.verb, t]
        case .bdat(let size, let last): ["BDAT", "\(size)"] + (last ? ["LAST"] : [])
        case .auth(let mechanism, let response): ["AUTH", mechanism] + (response.map { [$0] } ?? [])
        case .unknown(let verb, let arguments): [verb, arguments]
        }
    }

    /// The framer with a limit the input chooses (first byte: 3–258 octets; second: the
    /// segment size, 0 for whole) against RFC 5321 §2.3.8's model (`ReferenceFramer`): the same
    /// lines and errors in the same order, however the stream is cut; every line within the limit
    /// and free of CR and LF.
    public static func lineFramer(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let limit = Int(bytes[0]) + 3
        let input = Array(bytes.dropFirst(2))
        let step = bytes[1] == 0 ? max(1, input.count) : Int(bytes[1])
        let expected = ReferenceFramer.spans(input, limit: limit)
        var framer = LineFramer(maximumLineLength: limit)
        var k = 0
        var start = 0
        repeat {
            framer.append(input[start..<min(input.count, start + step)])
            start += step
            while true {
                let got: ReferenceFramer.Span
                do {
                    guard let line = try framer.next() else { break }
                    check(line.count + 2 <= limit, "a line of \(line.count + 2) octets past the limit of \(limit)")
                    check(!line.contains(0x0D) && !line.contains(0x0A), "CR or LF inside a framed line")
                    guard k < expected.count, case .line(let range) = expected[k], line.elementsEqual(input[range]) else {
                        check(false, "limit \(limit), segments of \(step): item \(k) is the line \(String(decoding: line, as: UTF8.self).debugDescription), RFC 5321 §2.3.8 says \(k < expected.count ? "\(expected[k])" : "nothing more")")
                        return
                    }
                    k += 1
                    continue
                } catch {
                    got = .error(error.code)
                }
                check(k < expected.count && expected[k] == got, "limit \(limit), segments of \(step): item \(k) is \(got), RFC 5321 §2.3.8 says \(k < expected.count ? "\(expected[k])" : "nothing more")")
                k += 1
            }
        } while start < input.count
        check(k == expected.count, "limit \(limit), segments of \(step): the framer gave \(k) items, RFC 5321 §2.3.8 says \(expected.count)")
        check(framer.bufferedByteCount <= max(limit, 2), "the framer holds \(framer.bufferedByteCount) octets at a limit of \(limit)")
    }

    /// Assembles replies, fed in the segments the first byte chooses, and compares every reply
    /// and every error with the RFC 5321 §4.2 reference model (`ReferenceReply`): same decision,
    /// same code and line texts, same error class. On what is accepted: one code per reply,
    /// lines within their limit, the line count within its limit; each parses back from its
    /// own wire form.
    public static func reply(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let input = Array(bytes.dropFirst())
        let limits = SMTPLimits()
        let enhanced = first & 0x80 != 0
        var parser = ReplyParser(limits: limits, parseEnhancedCodes: enhanced)
        let step = first & 0x40 == 0 ? max(1, input.count) : Int(first & 0x3F) + 1
        let expected = ReferenceReply.parse(input, lineLimit: limits.replyLine, maximumLines: limits.replyLines)
        var k = 0
        /// The parser's next item against the model's, in place (no copy of what agrees).
        func judge(_ reply: SMTPReply?, _ error: SMTPError.Code?) {
            guard k < expected.count else {
                check(false, "the reply parser gave \(reply.map { "\($0)" } ?? "\(error!)") where RFC 5321 §4.2's model has nothing more: \(expected)")
                return
            }
            let model = expected[k]
            k += 1
            switch (model, reply, error) {
            case (.error(let m), nil, let e?):
                check(m == e, "the reply parser refused with \(e), RFC 5321 §4.2's model with \(m)")
            case (.reply(let code, let texts), let r?, nil):
                check(Int(r.code.value) == code && r.lines.count == texts.count, "the reply parser read \(r), RFC 5321 §4.2's model \(model)")
                // Enhanced codes (RFC 2034) reshape the text, not the decisions or the codes.
                guard !enhanced else { return }
                for (line, text) in zip(r.lines, texts) {
                    // Reply text is kept as a String: octets that are not UTF-8 read as U+FFFD.
                    let same = text.allSatisfy { $0 < 0x80 } ? line.text.utf8.elementsEqual(text) : line.text == String(decoding: text, as: UTF8.self)
                    check(same, "the reply parser read the line text \(line.text.debugDescription), RFC 5321 §4.2's model \(String(decoding: text, as: UTF8.self).debugDescription)")
                }
            default:
                check(false, "the reply parser gave \(reply.map { "\($0)" } ?? "\(error!)"), RFC 5321 §4.2's model \(model)")
            }
        }
        var start = 0
        while start < input.count || start == 0 {
            parser.append(input[start..<min(input.count, start + step)])
            start += step
            while k < 10_000 {
                let r: SMTPReply
                do {
                    guard let reply = try parser.next() else { break }
                    r = reply
                } catch {
                    judge(nil, error.code)
                    continue
                }
                judge(r, nil)
                // On what is accepted: the line count within its limit; it reads back from its wire form.
                check(r.lines.count <= limits.replyLines, "reply with \(r.lines.count) lines")
                guard (try? r.validate()) != nil else { continue }
                var again = ReplyParser()
                again.append(r.wire)
                let back = try? again.next()
                check(back?.code == r.code && back?.lines.count == r.lines.count, "reply round trip changed \(r)")
            }
            if start >= input.count { break }
        }
        check(k == expected.count, "the reply parser gave \(k) items, RFC 5321 §4.2's model \(expected.count): \(expected)")
        // Read strictly (the reply-grammar oracle's reader), a bare 334 is refused where the
        // model refuses it (RFC 4954 §4) and every other decision is the tolerant one.
        var strict = ReplyParser(limits: limits, parseEnhancedCodes: enhanced)
        strict.strictChallenges = true
        strict.append(input)
        var strictItems: [ReferenceReply.Item] = []
        while strictItems.count < 10_000 {
            do {
                guard let reply = try strict.next() else { break }
                strictItems.append(.reply(code: Int(reply.code.value), texts: []))
            } catch {
                strictItems.append(.error(error.code))
            }
        }
        let strictModel = ReferenceReply.parse(input, lineLimit: limits.replyLine, maximumLines: limits.replyLines, strictChallenges: true)
        let decisions = strictModel.map { item -> ReferenceReply.Item in
            if case .reply(let code, _) = item { return .reply(code: code, texts: []) }
            return item
        }
        check(strictItems == decisions, "the strict reply parser gave \(strictItems), RFC 4954 §4's model \(decisions)")
    }

    /// Mailboxes (first byte: SMTPUTF8 on/off) are accepted exactly as RFC 5321 §4.1.2's model
    /// says (`ReferenceMailbox`: decision, local-part, host, error class); what is accepted
    /// prints back to itself and keeps the §4.5.3.1 limits.
    public static func mailbox(_ bytes: [UInt8]) {
        let allowUTF8 = bytes.first.map { $0 & 1 == 1 } ?? false
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        let model = ReferenceMailbox.parse(Array(text.utf8), allowUTF8: allowUTF8)
        let m: Mailbox
        do {
            m = try Mailbox(text, allowUTF8: allowUTF8)
        } catch {
            guard case .refused(let classes) = model, classes.contains(error.code) else {
                check(false, "mailbox \(text.debugDescription) (SMTPUTF8 \(allowUTF8)): refused as \(error.code), RFC 5321 §4.1.2 says \(model)")
                return
            }
            return
        }
        check(model == .mailbox(local: Array(m.localPart.utf8), host: m.host.description), "mailbox \(text.debugDescription) (SMTPUTF8 \(allowUTF8)): \(m), RFC 5321 §4.1.2 says \(model)")
        let again = try? Mailbox(m.description, allowUTF8: allowUTF8)
        check(again == m, "mailbox round trip changed \(m)")
        check(m.localPart.utf8.count <= SMTPLimits.rfcLocalPart, "local-part over 64 octets accepted")
        check(!m.description.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "a control octet in \(m)")
    }

    /// EHLO replies: the extensions are read exactly as RFC 5321 §4.1.1.1's model says
    /// (`ReferenceEHLO`: decision and each extension), and re-serialise to a reply that reads
    /// back the same.
    public static func ehloCapabilities(_ bytes: [UInt8]) {
        var parser = ReplyParser()
        parser.append(bytes)
        while let reply = try? parser.next() {
            let caps = try? EHLOCapabilities(reply: reply)
            let texts = reply.lines.map { line in Array(((line.enhancedCode.map { "\($0) " } ?? "") + line.text).utf8) }
            let model = ReferenceEHLO.extensions(code: Int(reply.code.value), lines: texts)
            check(caps?.extensions.map(\.description) == model, "EHLO reply \(reply): read as \(String(describing: caps?.extensions)), RFC 5321 §4.1.1.1 says \(String(describing: model))")
            guard let caps else { continue }
            var again = ReplyParser()
            again.append(caps.reply.wire)
            guard let back = try? again.next() else { continue }  // a domain text that is not a valid reply line
            check((try? EHLOCapabilities(reply: back))?.extensions == caps.extensions, "capabilities changed in a round trip")
        }
    }

    /// The DATA decoder against a simple reference model, fed whole and split where the first
    /// byte says: same result; the body matches the reference when the data ended.
    public static func dataDecoder(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let data = Array(bytes.dropFirst())
        var whole = DataDecoder()
        let consumed = whole.decode(data)
        var split = DataDecoder()
        var used = 0
        let step = Int(first % 16) + 1
        var i = 0
        while i < data.count {
            let n = split.decode(data[i..<min(data.count, i + step)])
            used += n
            if split.isComplete { break }
            i += step
        }
        check(whole.terminator == split.terminator && whole.body == split.body && consumed == used
              && whole.findings == split.findings, "the split changed the result")
        if whole.isComplete {
            check(whole.body == ReferenceDecoder.body(data), "body differs from the reference model")
            check(consumed >= 3 && Array(data[(consumed - 3)..<consumed]) == [0x2E, 0x0D, 0x0A], "ended without .CRLF")
        }
        check(whole.findings.smuggling.count <= 32, "unbounded findings")
    }

    /// BDAT: the command is accepted exactly as RFC 3030 §2's model says (same size, same LAST);
    /// then exactly its chunk; the rest is the next command.
    public static func bdat(_ bytes: [UInt8]) {
        var framer = LineFramer()
        framer.append(bytes)
        guard let line = try? framer.next() else { return }
        let parsed = try? CommandParser().parse(line)
        if let model = ReferenceBDAT.parse(Array(line)) {
            let got: ReferenceBDAT.Result
            if case .bdat(let size, let last)? = parsed { got = .chunk(size: size, last: last) } else { got = .refused }
            check(got == model, "BDAT line \(String(decoding: line, as: UTF8.self).debugDescription): \(got), RFC 3030 says \(model)")
        }
        guard case .bdat(let size, let last)? = parsed else { return }
        let rest = framer.takeBufferedBytes()
        var reader = ChunkReader(size: size, last: last)
        let chunk = reader.consume(rest[...])
        check(UInt64(chunk.count) == min(size, UInt64(rest.count)), "chunk length")
        check(reader.isComplete == (UInt64(rest.count) >= size), "completion")
    }

    /// AUTH: base64 decodes exactly as the RFC 4648 reference model says (same decision, same
    /// octets), and a PLAIN message is accepted exactly as RFC 4616's model says (same fields);
    /// responses and PLAIN messages decode or fail cleanly; base64 round-trips.
    public static func auth(_ bytes: [UInt8]) {
        let decoded = try? Base64.decode(bytes)
        let model = ReferenceBase64.decode(bytes)
        check(decoded == model, "base64 \(String(decoding: bytes.prefix(60), as: UTF8.self).debugDescription): \(String(describing: decoded)) against RFC 4648's \(String(describing: model))")
        if let message = model {
            let plain = try? SASL.PlainCredentials(base64: String(decoding: bytes, as: UTF8.self))
            let expected = ReferencePlain.parse(message)
            check((plain == nil) == (expected == nil), "PLAIN \(message) accepted \(plain != nil), RFC 4616 says \(expected != nil)")
            if let plain, let expected {
                check(Array(plain.authorizationID.utf8) == expected.authzid && Array(plain.username.utf8) == expected.authcid
                      && Array(plain.password.utf8) == expected.passwd, "PLAIN fields differ from RFC 4616's")
            }
        }
        if case .data(let decoded)? = try? SASL.parseResponse(bytes[...]) {
            check((try? Base64.decode(Base64.encode(decoded))) == decoded, "base64 round trip")
            if let plain = try? SASL.PlainCredentials(base64: Base64.encode(decoded)) {
                check((try? SASL.PlainCredentials(base64: plain.encoded())) == plain, "PLAIN round trip")
            }
        }
    }
}

/// RFC 5321 §4.1.1.4 and §4.5.2 the obvious way: the data is CRLF-ended lines; a line that is
/// a lone "." ends it; a leading "." of any other line is transparency, dropped (§4.5.2).
enum ReferenceDecoder {
    static func body(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var lineStart = 0
        var i = 0
        while i + 1 < bytes.count {
            guard bytes[i] == 0x0D, bytes[i + 1] == 0x0A else { i += 1; continue }
            let line = bytes[lineStart..<i]
            if line.count == 1, line.first == 0x2E { return out }
            out += line.first == 0x2E ? line.dropFirst() : line
            out += [0x0D, 0x0A]
            i += 2
            lineStart = i
        }
        return out
    }
}
