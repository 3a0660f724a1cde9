import SMTPCore
import SMTPServer
import XCTest

final class ServerTests: XCTestCase {
    /// Runs a client script with every feeding; the replies and the maildrop must agree.
    @discardableResult
    private func run(
        _ script: String, _ configuration: ServerConfiguration = ServerConfiguration(), tlsAfterStartTLS: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) -> ServerDriver {
        var reference: ServerDriver?
        for feeding in Feeding.three {
            var d = ServerDriver(configuration)
            d.send(script, feeding: feeding)
            if let after = tlsAfterStartTLS, d.awaitingHandshake {
                d.tls()
                d.send(after, feeding: feeding)
            }
            if let r = reference {
                XCTAssertEqual(d.replies, r.replies, "\(feeding)", file: file, line: line)
                XCTAssertEqual(d.maildrop, r.maildrop, "\(feeding)", file: file, line: line)
            } else {
                reference = d
            }
        }
        return reference!
    }

    func testGreetingAndHappyTransaction() throws {
        let d = run("EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
        XCTAssertEqual(d.replies.first?.code.value, 220)
        XCTAssertEqual(d.replies.first?.lines.first?.text, "mx.example.test ESMTP smtpsim")
        XCTAssertEqual(d.codes, [250, 250, 250, 354, 250, 221])
        XCTAssertEqual(d.maildrop.count, 1)
        let m = try XCTUnwrap(d.maildrop.messages.first)
        XCTAssertEqual(m.body, Array("Subject: hi\r\n\r\n.dot\r\n".utf8))
        XCTAssertEqual(m.recipients, [.mailbox(try Mailbox("b@y.test"))])
        XCTAssertEqual(m.heloName, "c.test")
        XCTAssertFalse(m.overTLS)
        XCTAssertTrue(d.closed)
        // Enhanced codes after EHLO (RFC 2034), none on the greeting or the EHLO reply.
        XCTAssertNil(d.replies[0].enhancedCode)
        XCTAssertNil(d.replies[1].enhancedCode)
        XCTAssertEqual(d.replies[2].enhancedCode?.description, "2.1.0")
    }

    func testEHLOListsPreTLSExtensionsWithoutAuth() throws {
        let d = run("EHLO c.test\r\n")
        let caps = try EHLOCapabilities(reply: d.replies[1])
        XCTAssertTrue(caps.startTLS)
        XCTAssertTrue(caps.authMechanisms.isEmpty, "RFC 4954 §4 note: no plaintext AUTH before TLS")
    }

    func testHELOHasNoExtensionsAndNoEnhancedCodes() {
        let d = run("HELO c.test\r\nMAIL FROM:<a@x.test>\r\n")
        XCTAssertEqual(d.codes, [250, 250])
        XCTAssertEqual(d.replies[1].lines.count, 1)
        XCTAssertNil(d.replies[2].enhancedCode)
    }

    func testSTARTTLSDiscardsPipelinedPlaintextAndResets() throws {
        // docs/catalog.md D1: injected commands in the STARTTLS segment are dropped and counted.
        let d = run("EHLO c.test\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n", tlsAfterStartTLS: "MAIL FROM:<a@x.test>\r\nEHLO c.test\r\n")
        XCTAssertEqual(d.discarded, [31], "fed whole: the injected RSET and MAIL came in the STARTTLS segment")
        XCTAssertEqual(d.codes, [250, 220, 503, 250], "MAIL before the new EHLO is out of sequence: the state was reset")
        let caps = try EHLOCapabilities(reply: d.replies.last!)
        XCTAssertFalse(caps.startTLS, "RFC 3207 §4.2: no STARTTLS after TLS")
        XCTAssertEqual(caps.authMechanisms, ["PLAIN", "LOGIN"])
    }

    func testEveryCommandPipelinedBehindSTARTTLSIsDiscarded() {
        // docs/catalog.md D1 over the whole vocabulary (one fixed RSET hid a server that kept
        // plaintext starting with NOOP): nothing behind STARTTLS runs inside TLS.
        let commands = ["NOOP", "RSET", "MAIL FROM:<evil@x.test>", "RCPT TO:<b@y.test>", "DATA", "HELO x", "EHLO x", "QUIT", "VRFY bob",
                        "HELP", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "BDAT 1 LAST", "STARTTLS", "FOO bar", "noop", "250 OK"]
        for command in commands {
            var d = ServerDriver()
            d.send("EHLO c.test\r\nSTARTTLS\r\n\(command)\r\n")
            XCTAssertEqual(d.discarded, [command.utf8.count + 2], command)
            let before = d.replies.count
            d.tls()
            XCTAssertEqual(d.replies.count, before, "\(command): nothing answered inside TLS before the client spoke")
            d.send("EHLO c.test\r\n")
            XCTAssertEqual(d.codes.last, 250, command)
        }
    }

    func testSTARTTLSRefusals() {
        XCTAssertEqual(run("STARTTLS\r\n").codes, [503])
        XCTAssertEqual(run("EHLO c\r\nSTARTTLS now\r\n").codes, [250, 501])
        XCTAssertEqual(run("EHLO c\r\nSTARTTLS\r\n", .with { $0.tlsAvailable = false }).codes, [250, 454])
        XCTAssertEqual(run("EHLO c\r\nSTARTTLS\r\n", .with { $0.extensionsBeforeTLS.removeAll { $0 == .startTLS } }).codes, [250, 502])
        let d = run("EHLO c\r\nSTARTTLS\r\n", tlsAfterStartTLS: "EHLO c\r\nSTARTTLS\r\n")
        XCTAssertEqual(d.codes, [250, 220, 250, 502], "STARTTLS inside TLS is refused (RFC 3207 §4.2)")
    }

    func testRequireTLS() {
        let d = run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nNOOP\r\nHELO c\r\nSTARTTLS\r\n", .with { $0.requireTLS = true }, tlsAfterStartTLS: "EHLO c\r\nMAIL FROM:<a@x.test>\r\n")
        XCTAssertEqual(d.codes, [250, 530, 250, 530, 220, 250, 250])
        XCTAssertEqual(d.replies[2].enhancedCode?.description, "5.7.0")
    }

    func testAuthOnlyInsideTLS() {
        let config = ServerConfiguration.with { $0.credentials = ["alice": "secret"] }
        let plain = try! SASL.PlainCredentials(username: "alice", password: "secret").encoded()
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN \(plain)\r\n", config).codes, [250, 530])
        var with538 = config
        with538.authBeforeTLSReply = .encryptionRequired
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN \(plain)\r\n", with538).replies.last?.description, "538 5.7.11 Encryption required for requested authentication mechanism")
        let d = run("EHLO c\r\nSTARTTLS\r\n", config, tlsAfterStartTLS: "EHLO c\r\nAUTH PLAIN \(plain)\r\nAUTH PLAIN \(plain)\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n")
        XCTAssertEqual(d.codes, [250, 220, 250, 235, 503, 250, 250, 354, 250])
        XCTAssertEqual(d.maildrop.messages.first?.authenticatedAs, "alice")
        XCTAssertEqual(d.maildrop.messages.first?.overTLS, true)
    }

    func testAuthExchanges() {
        var config = ServerConfiguration.with { $0.credentials = ["alice": "secret"] }
        config.flaws = [.offersAuthPlainBeforeTLS]  // keeps these exchanges in plaintext for brevity
        let user = Base64.encode("alice"), pass = Base64.encode("secret"), bad = Base64.encode("wrong")
        let plain = try! SASL.PlainCredentials(username: "alice", password: "secret").encoded()
        XCTAssertEqual(run("EHLO c\r\nAUTH LOGIN\r\n\(user)\r\n\(pass)\r\n", config).codes, [250, 334, 334, 235])
        XCTAssertEqual(run("EHLO c\r\nAUTH LOGIN \(user)\r\n\(bad)\r\n", config).codes, [250, 334, 535])
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN\r\n\(plain)\r\n", config).codes, [250, 334, 235])
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN\r\n*\r\nNOOP\r\n", config).codes, [250, 334, 501, 250])
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN\r\n!!!\r\n", config).codes, [250, 334, 501])
        XCTAssertEqual(run("EHLO c\r\nAUTH CRAM-MD5\r\n", config).codes, [250, 504])
        XCTAssertEqual(run("HELO c\r\nAUTH PLAIN \(plain)\r\n", config).codes, [250, 503])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nAUTH PLAIN \(plain)\r\n", config).codes, [250, 250, 503])
        let long = String(repeating: "A", count: 13000)
        XCTAssertEqual(run("EHLO c\r\nAUTH PLAIN\r\n\(long)\r\nNOOP\r\n", config).codes, [250, 334, 500, 250])
    }

    func testEveryChallengeCarriesTheSpaceRFC4954Requires() {
        // RFC 4954 §4 `continue-req = "334" SP [base64] CRLF`: AUTH PLAIN without an initial
        // response gets an empty challenge, still with its SP (s-nail gives up on a bare 334).
        var config = ServerConfiguration.with { $0.credentials = ["alice": "secret"] }
        config.flaws = [.offersAuthPlainBeforeTLS]
        let plain = run("EHLO c\r\nAUTH PLAIN\r\n", config)
        XCTAssertTrue(String(decoding: plain.wire, as: UTF8.self).hasSuffix("\r\n334 \r\n"), String(decoding: plain.wire, as: UTF8.self))
        let login = String(decoding: run("EHLO c\r\nAUTH LOGIN\r\n\(Base64.encode("alice"))\r\n", config).wire, as: UTF8.self)
        XCTAssertTrue(login.hasSuffix("\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"), login)
        // Inside TLS, as a real client meets it.
        let tls = run("EHLO c\r\nSTARTTLS\r\n", .with { $0.credentials = ["alice": "secret"] }, tlsAfterStartTLS: "EHLO c\r\nAUTH PLAIN\r\n")
        XCTAssertTrue(String(decoding: tls.wire, as: UTF8.self).hasSuffix("\r\n334 \r\n"))
    }

    func testSequencingErrorsLeaveStateUnchanged() {
        // docs/catalog.md F6.
        XCTAssertEqual(run("MAIL FROM:<a@x.test>\r\n").codes, [503])
        XCTAssertEqual(run("EHLO c\r\nRCPT TO:<b@y.test>\r\n").codes, [250, 503])
        XCTAssertEqual(run("EHLO c\r\nDATA\r\n").codes, [250, 503])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nDATA\r\n").codes, [250, 250, 503])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n").codes, [250, 250, 503, 250])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRSET\r\nRCPT TO:<b@y.test>\r\n").codes, [250, 250, 250, 503])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nEHLO c\r\nRCPT TO:<b@y.test>\r\n").codes, [250, 250, 250, 503])
    }

    func testOtherCommands() {
        XCTAssertEqual(run("NOOP\r\nVRFY bob\r\nHELP\r\nFOO bar\r\nQUIT\r\nNOOP\r\n").codes, [250, 252, 214, 500, 221])
    }

    func testParseErrorsGetTheirReplies() {
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test> SIZE=1 SIZE=2\r\nMAIL FROM:<bad\r\nRCPT TO:<b@y.test>\r\n").codes, [250, 501, 501, 503])
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test> FOO=bar\r\n").codes, [250, 555])
        XCTAssertEqual(run("EHLO c\r\n" + String(repeating: "N", count: 600) + "\r\nNOOP\r\n").codes, [250, 500, 250])
        XCTAssertEqual(run("EHLO c\r\nNOOP\nNOOP\r\nNOOP\r\n").codes, [250, 500, 250])
    }

    func testSizeAndRecipientLimits() {
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test> SIZE=99999999999\r\n").codes, [250, 552])
        XCTAssertEqual(run("HELO c\r\nMAIL FROM:<a@x.test> SIZE=10\r\n").codes, [250, 555], "no SIZE without EHLO")
        var script = "EHLO c\r\nMAIL FROM:<a@x.test>\r\n"
        for i in 0..<101 { script += "RCPT TO:<r\(i)@y.test>\r\n" }
        let d = run(script)
        XCTAssertEqual(d.codes.filter { $0 == 250 }.count, 102)
        XCTAssertEqual(d.codes.last, 452, "RFC 5321 §4.5.3.1.10: 452 for too many recipients")
    }

    func testBareLineEndingsInDataAreRefused() {
        // docs/catalog.md G2: every smuggling sequence; exactly one message or none, never two.
        for variant in SmugglingVariant.allCases {
            let body = "Subject: a\r\n\r\nhi" + String(decoding: variant.bytes, as: UTF8.self)
                + "MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<v@y.test>\r\nDATA\r\nspoofed\r\n.\r\n"
            let d = run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" + body + "QUIT\r\n")
            XCTAssertLessThanOrEqual(d.maildrop.count, 1, variant.rawValue)
            XCTAssertEqual(d.codes.suffix(2), variant == .nulBefore ? [250, 221] : [550, 221], variant.rawValue)
            XCTAssertTrue(d.notes.contains { if case .dataFindings(let f) = $0 { f.variants == [variant] } else { false } }, variant.rawValue)
        }
    }

    func testBDAT() {
        let d = run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4\r\nab\r\nBDAT 3 LAST\r\n.\r\nBDAT 2\r\nxxRSET\r\n")
        XCTAssertEqual(d.codes, [250, 250, 250, 250, 250, 503, 250])
        XCTAssertEqual(d.maildrop.messages.first?.body, Array("ab\r\n.\r\n".utf8))
        XCTAssertEqual(d.maildrop.messages.first?.viaBDAT, true)
        XCTAssertEqual(run("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 1\r\nxDATA\r\n").codes, [250, 250, 250, 250, 503])
        XCTAssertEqual(run("EHLO c\r\nBDAT 4 LAST\r\nQUITNOOP\r\n").codes, [250, 503, 250])
    }

    func testPipelinedRepliesGoOutTogether() {
        var d = ServerDriver()
        d.send("EHLO c\r\n")
        let before = d.actions.count
        d.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n")
        let sends = d.actions[before...].filter { if case .send = $0 { true } else { false } }
        XCTAssertEqual(sends.count, 1, "one flush for the whole group (RFC 2920 §3.2)")
        XCTAssertEqual(d.codes.suffix(4), [250, 250, 250, 354])
    }

    func testGreetingDelayAndEarlyTalkers() {
        var d = ServerDriver(.with { $0.greetingDelay = 20_000_000_000; $0.greeting = ["ESMTP", "second line"] })
        XCTAssertEqual(d.replies.count, 0)
        XCTAssertEqual(d.actions, [.setTimer(.greeting, after: 20_000_000_000)])
        d.send("EHLO early\r\n")
        XCTAssertTrue(d.notes.contains(.earlyTalker(octets: 12)))
        d.fire(.greeting)
        XCTAssertEqual(d.replies.map(\.code.value), [220, 250])
        XCTAssertEqual(d.replies[0].lines.count, 2)
    }

    func testAnEarlyTalkerIsHeldOnlyUpToTheLongestLine() {
        var d = ServerDriver(.with { $0.greetingDelay = 1_000_000_000 })
        d.send(String(repeating: "NOOP\r\n", count: 5_000))
        XCTAssertTrue(d.notes.contains(.earlyTalker(octets: 30_000)))
        XCTAssertEqual(d.server.bufferedByteCount, SMTPLimits().authLine)
        d.fire(.greeting)
        XCTAssertEqual(d.replies.count, 1 + SMTPLimits().authLine / 6, "the greeting, then one 250 per whole NOOP held")
    }

    func testAClosedServerLetsGoOfWhatItWillNeverRead() {
        // Found by the ServerSession target: QUIT, then 24 KB in the same delivery.
        var d = ServerDriver()
        d.send("QUIT\r\n" + String(repeating: "x", count: 24_000))
        XCTAssertTrue(d.closed)
        XCTAssertEqual(d.server.bufferedByteCount, 0)
    }

    func testIdleTimeoutAndShutdown() {
        var d = ServerDriver()
        d.send("EHLO c\r\n")
        XCTAssertTrue(d.actions.contains(.setTimer(.idle, after: 300_000_000_000)))
        d.fire(.idle)
        XCTAssertEqual(d.replies.last?.code.value, 421)
        XCTAssertTrue(d.closed)
        var e = ServerDriver()
        e.shutdown()
        XCTAssertEqual(e.replies.last?.code.value, 421)
        XCTAssertTrue(e.closed)
    }

    func testHostileInputNeverCrashesAndStaysBounded() {
        var rng = SplitMix64(seed: 77)
        let pieces = ["EHLO c\r\n", "MAIL FROM:<a@x.test>\r\n", "RCPT TO:<b@y.test>\r\n", "DATA\r\n", "BDAT 3\r\n", "\r\n.\r\n",
                      "\n.\n", "STARTTLS\r\n", "AUTH PLAIN\r\n", "\u{0}", "\r", "\n", "RSET\r\n", "x", String(repeating: "z", count: 700)]
        for round in 0..<150 {
            var d = ServerDriver(.with { $0.flaws = round % 2 == 0 ? [] : Set(ServerFlaw.allCases) })
            for _ in 0..<40 {
                d.send(pieces[Int.random(in: 0..<pieces.count, using: &rng)], feeding: .randomSplits(seed: 1, maxSegment: 23))
                if d.awaitingHandshake { d.tls() }
                XCTAssertLessThan(d.server.bufferedByteCount, 13_000)
            }
        }
    }
}
