import XCTest
@testable import SMTPCore

/// `parse(serialise(x)) == x` over seeded random values of every command and reply shape.
final class RoundTripTests: XCTestCase {
    struct Generator {
        var rng: SplitMix64

        mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
        mutating func bool() -> Bool { Bool.random(using: &rng) }
        mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

        mutating func word(_ alphabet: String, _ length: ClosedRange<Int>) -> String {
            let a = Array(alphabet)
            return String((0..<int(length)).map { _ in a[int(0...(a.count - 1))] })
        }

        mutating func domain() -> String {
            (0..<int(1...4)).map { _ in
                let inner = word("abcdefghijklmnopqrstuvwxyz0123456789-", 0...8)
                return word("abcdefghijklmnopqrstuvwxyz0123456789", 1...1) + (inner.isEmpty ? "" : inner + word("abcxyz09", 1...1))
            }.joined(separator: ".")
        }

        mutating func mailbox() -> Mailbox {
            let local: String
            if bool() {
                local = (0..<int(1...3)).map { _ in word("abcXYZ0129!#$%&'*+-/=?^_`{|}~", 1...6) }.joined(separator: ".")
            } else {
                local = "\"" + word("ab c@<>()[];:,.", 0...8) + (bool() ? "\\\"" : "") + "\""
            }
            let host: Mailbox.Host
            switch int(0...3) {
            case 0: host = .ipv4("\(int(0...255)).\(int(0...255)).\(int(0...255)).\(int(0...255))")
            case 1: host = .ipv6(pick(["::1", "2001:db8::7", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1"]))
            default: host = .domain(domain())
            }
            return try! Mailbox(localPart: local, host: host)
        }

        mutating func parameter() -> ESMTPParameter {
            ESMTPParameter(word("XYZ", 1...1) + word("ABCDEF0123-", 0...6), bool() ? word("abc123+/:;,<>!~", 1...10) : nil)
        }

        mutating func command() -> SMTPCommand {
            switch int(0...13) {
            case 0: return .ehlo(bool() ? domain() : "[\(int(0...255)).0.0.\(int(0...255))]")
            case 1: return .helo(domain())
            case 2:
                var p = MailParameters()
                if bool() { p.size = UInt64(int(0...Int(Int32.max))) }
                if bool() { p.body = pick(BodyType.allCases) }
                p.requireTLS = bool()
                if bool() { p.auth = "<>" }
                p.other = (0..<int(0...2)).map { _ in parameter() }
                if Set(p.other.map { $0.keyword.uppercased() }).count != p.other.count { p.other = [] }
                return .mail(bool() ? .null : .mailbox(mailbox()), p)
            case 3:
                var others = (0..<int(0...2)).map { _ in parameter() }
                if Set(others.map { $0.keyword.uppercased() }).count != others.count { others = [] }
                return .rcpt(bool() ? .postmaster : .mailbox(mailbox()), RcptParameters(other: others))
            case 4: return .data
            case 5: return .bdat(size: UInt64(int(0...1_000_000)), last: bool())
            case 6: return .rset
            case 7: return .noop(bool() ? word("abc def", 1...10).trimmingTrailingSpaces.nonEmpty : nil)
            case 8: return .quit
            case 9: return .vrfy(word("abcdef", 1...10))
            case 10: return .help(bool() ? word("MAILRCPT", 1...6) : nil)
            case 11: return .startTLS
            case 12: return .auth(mechanism: pick(["PLAIN", "LOGIN", "SCRAM-SHA-256", "XOAUTH2"]), initialResponse: bool() ? Base64.encode(word("abc", 0...9)).nonEmpty : nil)
            default: return .unknown(verb: word("XYZQW", 1...8), arguments: bool() ? word("ab c", 1...6).trimmingTrailingSpaces : "")
            }
        }

        mutating func reply() -> SMTPReply {
            let code = ReplyCode(int(2...5) * 100 + int(0...5) * 10 + int(0...9))!
            let enhanced = bool() ? EnhancedStatusCode(codeClass: Int(code.value / 100), subject: int(0...7), detail: int(0...30)) : nil
            let lines = (0..<int(1...5)).map { _ in SMTPReply.Line(word("abc XYZ-.:0189", 0...30).trimmingTrailingSpaces, enhancedCode: enhanced) }
            return SMTPReply(code: code, lines: lines)
        }
    }

    func testCommandsRoundTrip() throws {
        var g = Generator(rng: SplitMix64(seed: 2024))
        let parser = CommandParser()
        for _ in 0..<3000 {
            let command = g.command()
            let wire = try command.wire()
            XCTAssertEqual(Array(wire.suffix(2)), [13, 10])
            XCTAssertEqual(try parser.parse(Array(wire.dropLast(2))), command, command.description)
        }
    }

    func testRepliesRoundTrip() throws {
        var g = Generator(rng: SplitMix64(seed: 7))
        var stream: [UInt8] = []
        var replies: [SMTPReply] = []
        for _ in 0..<1000 {
            let r = g.reply()
            replies.append(r)
            stream += r.wire
        }
        for feeding in [Feeding.whole, .byteByByte, .randomSplits(seed: 1)] {
            var parser = ReplyParser()
            var out: [SMTPReply] = []
            for segment in feeding.segments(stream) {
                parser.append(segment)
                while let r = try parser.next() { out.append(r) }
            }
            XCTAssertEqual(out, replies, "\(feeding)")
        }
    }

    func testSerialiserRefusesLineBreaksInArguments() {
        // docs/catalog.md F3: API inputs with CR/LF are refused, never sent.
        for command: SMTPCommand in [
            .ehlo("x\r\nMAIL FROM:<a@b>"), .helo("x\n"), .noop("a\rb"), .vrfy("\u{0}"), .unknown(verb: "X", arguments: "a\r\nQUIT"),
            .auth(mechanism: "PLAIN", initialResponse: "a\r\nb"),
        ] {
            XCTAssertThrowsError(try command.wire()) { error in
                XCTAssertEqual((error as? SMTPError)?.code, .invalidCharacter)
                XCTAssertEqual((error as? SMTPError)?.fault, .local)
            }
        }
        XCTAssertThrowsError(try SMTPCommand.mail(.null, MailParameters(other: [ESMTPParameter("A B", "c")])).wire())
        XCTAssertThrowsError(try SMTPCommand.mail(.null, MailParameters(other: [ESMTPParameter("A", "c=d")])).wire())
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }

    var nonEmpty: String? { isEmpty ? nil : self }
}
