import XCTest
@testable import SMTPCore

final class CommandParserTests: XCTestCase {
    let parser = CommandParser()

    private func parse(_ s: String, smtpUTF8: Bool = false) throws(SMTPError) -> SMTPCommand {
        try parser.parse(s, smtpUTF8: smtpUTF8)
    }

    private func assertError(
        _ s: String, _ code: SMTPError.Code, reply: Int? = nil, enhanced: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let c = try parse(s)
            XCTFail("expected \(code), parsed \(c)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.code, code, error.description, file: file, line: line)
            if let reply { XCTAssertEqual(error.reply.map { Int($0.code.value) }, reply, file: file, line: line) }
            if let enhanced { XCTAssertEqual(error.reply?.enhancedCode?.description, enhanced, file: file, line: line) }
            XCTAssertEqual(error.fault, .peer, file: file, line: line)
        }
    }

    func testRFC5321Vectors() throws {
        let alice = try Mailbox("alice@example.test")
        let bob = try Mailbox("bob@example.test")
        XCTAssertEqual(try parse("EHLO client.example.test"), .ehlo("client.example.test"))
        XCTAssertEqual(try parse("EHLO [192.0.2.1]"), .ehlo("[192.0.2.1]"))
        XCTAssertEqual(try parse("EHLO [IPv6:2001:db8::1]"), .ehlo("[IPv6:2001:db8::1]"))
        XCTAssertEqual(try parse("HELO relay.example.test"), .helo("relay.example.test"))
        XCTAssertEqual(try parse("MAIL FROM:<alice@example.test>"), .mail(.mailbox(alice), MailParameters()))
        XCTAssertEqual(try parse("MAIL FROM:<>"), .mail(.null, MailParameters()))
        XCTAssertEqual(try parse("RCPT TO:<bob@example.test>"), .rcpt(.mailbox(bob), RcptParameters()))
        XCTAssertEqual(try parse("RCPT TO:<Postmaster>"), .rcpt(.postmaster, RcptParameters()))
        XCTAssertEqual(try parse("RCPT TO:<postmaster>"), .rcpt(.postmaster, RcptParameters()))
        XCTAssertEqual(try parse("DATA"), .data)
        XCTAssertEqual(try parse("RSET"), .rset)
        XCTAssertEqual(try parse("NOOP"), .noop(nil))
        XCTAssertEqual(try parse("NOOP hello"), .noop("hello"))
        XCTAssertEqual(try parse("QUIT"), .quit)
        XCTAssertEqual(try parse("VRFY Smith"), .vrfy("Smith"))
        XCTAssertEqual(try parse("HELP"), .help(nil))
        XCTAssertEqual(try parse("HELP MAIL"), .help("MAIL"))
        XCTAssertEqual(try parse("STARTTLS"), .startTLS)
        XCTAssertEqual(try parse("BDAT 1000"), .bdat(size: 1000, last: false))
        XCTAssertEqual(try parse("BDAT 0 LAST"), .bdat(size: 0, last: true))
        XCTAssertEqual(try parse("AUTH PLAIN"), .auth(mechanism: "PLAIN", initialResponse: nil))
        XCTAssertEqual(try parse("AUTH plain AGFsaWNlAHNlY3JldA=="), .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA=="))
        XCTAssertEqual(try parse("AUTH PLAIN ="), .auth(mechanism: "PLAIN", initialResponse: "="))
    }

    func testVerbsAreCaseInsensitive() throws {
        XCTAssertEqual(try parse("ehlo x.test"), .ehlo("x.test"))
        XCTAssertEqual(try parse("mail from:<a@x.test>"), .mail(.mailbox(try Mailbox("a@x.test")), MailParameters()))
        XCTAssertEqual(try parse("rCpT tO:<a@x.test>"), .rcpt(.mailbox(try Mailbox("a@x.test")), RcptParameters()))
        XCTAssertEqual(try parse("StartTLS"), .startTLS)
        XCTAssertEqual(try parse("bdat 5 last"), .bdat(size: 5, last: true))
    }

    func testUnknownVerbsBecomeUnknown() throws {
        XCTAssertEqual(try parse("EXPN staff"), .unknown(verb: "EXPN", arguments: "staff"))
        XCTAssertEqual(try parse("XYZZY"), .unknown(verb: "XYZZY", arguments: ""))
        XCTAssertEqual(try parse(""), .unknown(verb: "", arguments: ""))
        XCTAssertEqual(try parse("GET / HTTP/1.0"), .unknown(verb: "GET", arguments: "/ HTTP/1.0"))
    }

    func testForbiddenParametersAreReportedNotDropped() {
        // RFC 3207 §4: "501 Syntax error (no parameters allowed)".
        assertError("STARTTLS foo", .unexpectedArgument, reply: 501, enhanced: "5.5.4")
        assertError("DATA x", .unexpectedArgument, reply: 501)
        assertError("QUIT now", .unexpectedArgument, reply: 501)
        assertError("RSET all", .unexpectedArgument, reply: 501)
    }

    func testTrailingSpacesAreTolerated() throws {
        XCTAssertEqual(try parse("STARTTLS  "), .startTLS)
        XCTAssertEqual(try parse("QUIT "), .quit)
    }

    func testMissingArguments() {
        assertError("EHLO", .missingArgument, reply: 501)
        assertError("HELO", .missingArgument, reply: 501)
        assertError("VRFY", .missingArgument, reply: 501)
        assertError("BDAT", .missingArgument, reply: 501)
        assertError("AUTH", .missingArgument, reply: 501)
        assertError("MAIL", .syntaxError, reply: 501)
        assertError("MAIL FROM:", .missingArgument, reply: 501)
    }

    func testSpaceAfterColonIsRefused() {
        // RFC 5321 §4.1.2: "spaces are not permitted on either side of the colon".
        assertError("MAIL FROM: <a@x.test>", .syntaxError, reply: 501)
        assertError("RCPT TO: <a@x.test>", .syntaxError, reply: 501)
        assertError("MAIL FROM :<a@x.test>", .syntaxError, reply: 501)
    }

    func testBadAddressesGetTheirReplies() {
        assertError("MAIL FROM:<a@>", .invalidAddress, reply: 501, enhanced: "5.1.7")
        assertError("RCPT TO:<@x.test>", .invalidAddress, reply: 501, enhanced: "5.1.3")
        assertError("RCPT TO:<>", .invalidAddress, reply: 501, enhanced: "5.1.3")
        assertError("RCPT TO:a@x.test", .invalidAddress, reply: 501)
        assertError("MAIL FROM:<a@x.test", .invalidAddress, reply: 501)
        assertError("EHLO bad_domain!", .syntaxError, reply: 501)
        assertError("HELO [192.0.2.1]", .syntaxError, reply: 501)
    }

    func testESMTPParameters() throws {
        guard case .mail(_, let p) = try parse("MAIL FROM:<a@x.test> SIZE=1000 BODY=8BITMIME REQUIRETLS AUTH=<> RET=HDRS ENVID=abc")
        else { return XCTFail() }
        XCTAssertEqual(p.size, 1000)
        XCTAssertEqual(p.body, .eightBitMIME)
        XCTAssertTrue(p.requireTLS)
        XCTAssertFalse(p.smtpUTF8)
        XCTAssertEqual(p.auth, "<>")
        XCTAssertEqual(p.other, [ESMTPParameter("RET", "HDRS"), ESMTPParameter("ENVID", "abc")])
        guard case .mail(_, let q) = try parse("MAIL FROM:<a@x.test> body=binarymime smtputf8") else { return XCTFail() }
        XCTAssertEqual(q.body, .binaryMIME)
        XCTAssertTrue(q.smtpUTF8)
        guard case .rcpt(_, let r) = try parse("RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@x.test") else {
            return XCTFail()
        }
        XCTAssertEqual(r.other.map(\.keyword), ["NOTIFY", "ORCPT"])
    }

    func testMalformedAndDuplicateParameters() {
        // docs/catalog.md F5: SIZE=20 SIZE=20, SIZE=2a, BODY=foo, AUTH=.
        assertError("MAIL FROM:<a@x.test> SIZE=20 SIZE=20", .duplicateParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> SIZE=20 size=30", .duplicateParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> SIZE=2a", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> SIZE=123456789012345678901", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> SIZE", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> BODY=foo", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> AUTH=", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> SMTPUTF8=yes", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test> =x", .invalidParameter, reply: 501)
        assertError("MAIL FROM:<a@x.test>SIZE=1", .invalidParameter, reply: 501)
        assertError("RCPT TO:<a@x.test> A=1 a=2", .duplicateParameter, reply: 501)
    }

    func testSMTPUTF8() throws {
        // RFC 6531 §3.4: UTF-8 in the envelope only with SMTPUTF8 on MAIL.
        assertError("MAIL FROM:<jöran@example.test>", .utf8NotAllowed, reply: 553, enhanced: "5.6.7")
        guard case .mail(.mailbox(let m), let p) = try parse("MAIL FROM:<jöran@bücher.example> SMTPUTF8") else {
            return XCTFail()
        }
        XCTAssertTrue(p.smtpUTF8)
        XCTAssertEqual(m.localPart, "jöran")
        XCTAssertTrue(m.requiresSMTPUTF8)
        assertError("RCPT TO:<jöran@example.test>", .utf8NotAllowed, reply: 553)
        XCTAssertNoThrow(try parse("RCPT TO:<jöran@example.test>", smtpUTF8: true))
        // AUTH='s xtext is ASCII without SMTPUTF8 (RFC 4954 §5, RFC 3461 §4), as every other
        // parameter's value (found by the CommandLine target in a minute; kept in Corpus/).
        assertError("MAIL FROM:<> AUTH=\u{2F7D}", .utf8NotAllowed, reply: 553)
        guard case .mail(_, let withUTF8) = try parse("MAIL FROM:<> AUTH=\u{2F7D} SMTPUTF8") else { return XCTFail() }
        XCTAssertEqual(withUTF8.auth, "\u{2F7D}")
    }

    func testBDATSizes() {
        assertError("BDAT 99999999999999999999", .invalidChunkSize, reply: 501)
        assertError("BDAT x", .invalidChunkSize, reply: 501)
        assertError("BDAT 10 FIRST", .syntaxError, reply: 501)
        XCTAssertEqual(try parse("BDAT 18446744073709551615"), .bdat(size: UInt64.max, last: false))
    }

    func testAuthMechanismNames() {
        assertError("AUTH PL@IN", .syntaxError, reply: 501)
        assertError("AUTH ABCDEFGHIJKLMNOPQRSTU", .syntaxError, reply: 501)
        XCTAssertEqual(try parse("AUTH SCRAM-SHA-256"), .auth(mechanism: "SCRAM-SHA-256", initialResponse: nil))
        assertError("AUTH PLAIN a b", .syntaxError, reply: 501)
    }

    func testControlBytesAreRefused() {
        assertError("NOOP a\u{0}b", .invalidCharacter, reply: 500)
        assertError("EHLO x\u{1}", .invalidCharacter, reply: 500)
        assertError("NOOP caf\u{e9}", .invalidCharacter, reply: 501)
    }

    func testCommandLineLimitAtNMinusOneNAndNPlusOne() throws {
        // RFC 5321 §4.5.3.1.4: 512 octets with CRLF, so a 510-octet line is the longest.
        for (length, ok) in [(509, true), (510, true), (511, false)] {
            let line = "NOOP " + String(repeating: "x", count: length - 5)
            if ok {
                XCTAssertEqual(try parse(line), .noop(String(repeating: "x", count: length - 5)))
            } else {
                assertError(line, .lineTooLong, reply: 500, enhanced: "5.5.6")
            }
        }
    }

    func testAuthLineLimitIs12288() throws {
        // RFC 4954 §4: AUTH lines may be 12288 octets with CRLF.
        let prefix = "AUTH PLAIN "
        for (length, ok) in [(12285, true), (12286, true), (12287, false)] {
            let line = prefix + String(repeating: "A", count: length - prefix.count)
            if ok {
                XCTAssertNoThrow(try parse(line))
            } else {
                assertError(line, .lineTooLong, reply: 500)
            }
        }
    }

    func testPathLimits() throws {
        // RFC 5321 §4.5.3.1.1: local-part ≤ 64.
        let local64 = String(repeating: "a", count: 64)
        XCTAssertNoThrow(try parse("MAIL FROM:<\(local64)@x.test>"))
        assertError("MAIL FROM:<\(local64)a@x.test>", .pathTooLong, reply: 501, enhanced: "5.1.7")
        // §4.5.3.1.3: path ≤ 256 with "<" and ">".
        func domain(_ length: Int) -> String {
            var labels: [String] = []
            var remaining = length
            while remaining > 0 {
                let n = min(63, remaining)
                labels.append(String(repeating: "d", count: n))
                remaining -= n + 1
            }
            return labels.joined(separator: ".")
        }
        let d = domain(240)  // labels of 63 separated by dots
        XCTAssertEqual(d.count, 240)
        let local = String(repeating: "b", count: 256 - 2 - 1 - 240)  // path exactly 256
        XCTAssertNoThrow(try parse("RCPT TO:<\(local)@\(d)>"))
        assertError("RCPT TO:<\(local)b@\(d)>", .pathTooLong, reply: 501, enhanced: "5.1.3")
    }

    func testSourceRoutesAreAcceptedAndIgnored() throws {
        XCTAssertEqual(
            try parse("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>"),
            .rcpt(.mailbox(try Mailbox("userc@d.bar.org")), RcptParameters())
        )
        assertError("RCPT TO:<@hosta.int userc@d.bar.org>", .invalidAddress)
    }
}
