import SMTPCore
import SMTPServer
import XCTest

/// Server rules over the compliant machine (issue 15): trigger, count, epoch, transaction,
/// probability; reply, silence, close; acting or not.
final class ServerRuleTests: XCTestCase {
    func driver(_ rules: [ServerRule], seed: UInt64 = 0, id: String = "C1") -> ServerDriver {
        ServerDriver(.with { $0.rules = rules; $0.ruleSeed = seed }, connectionID: id)
    }

    static let mail = "MAIL FROM:<a@x.test>\r\n", rcpt = "RCPT TO:<b@y.test>\r\n"

    func testAVerbRuleTheNthTimeAndAPattern() {
        var d = driver([
            ServerRule(on: .verb("RCPT"), pattern: TextPattern("rcpt to:<*@blocked.test>"), reply: RuleReply(text: "550 5.7.1 blocked")),
            ServerRule(on: .verb("NOOP"), condition: RuleCondition(nth: 2), reply: RuleReply(lines: ["250-two", "250 lines"])),
        ])
        d.send("EHLO c\r\n" + Self.mail + "RCPT TO:<e@blocked.test>\r\n" + Self.rcpt + "NOOP\r\nNOOP\r\nNOOP\r\n")
        XCTAssertEqual(d.codes, [250, 250, 550, 250, 250, 250, 250])
        XCTAssertEqual(d.replies[6].lines.map(\.text), ["two", "lines"])
        XCTAssertEqual(d.server.hasOpenTransaction, true)
    }

    func testWithoutActingNothingChanges() {
        // A 250 to MAIL that opens nothing: the RCPT after it is out of sequence.
        var d = driver([ServerRule(on: .verb("MAIL"), reply: RuleReply(text: "250 2.1.0 sure"), act: false)])
        d.send("EHLO c\r\n" + Self.mail + Self.rcpt)
        XCTAssertEqual(d.codes, [250, 250, 503])
        XCTAssertFalse(d.server.hasOpenTransaction)
    }

    func testA220ToSTARTTLSWithoutTLSAndA221ToQUITThatStaysOpen() {
        var d = driver([
            ServerRule(on: .verb("STARTTLS"), reply: RuleReply(text: "220 go ahead"), act: false),
            ServerRule(on: .verb("QUIT"), reply: RuleReply(text: "221 bye")),  // positive: acts
        ])
        d.send("EHLO c\r\nSTARTTLS\r\nNOOP\r\n")
        XCTAssertEqual(d.codes, [250, 220, 250])
        XCTAssertFalse(d.awaitingHandshake, "the server never started TLS")
        var q = driver([ServerRule(on: .verb("QUIT"), reply: RuleReply(text: "221 bye"), act: false)])
        q.send("EHLO c\r\nQUIT\r\nNOOP\r\n")
        XCTAssertEqual(q.codes, [250, 221, 250])
        XCTAssertFalse(q.closed)
    }

    func testSilenceCloseAndTheTLSEpoch() {
        var d = driver([
            ServerRule(on: .verb("EHLO"), condition: RuleCondition(tls: true), reply: nil),
            ServerRule(on: .verb("NOOP"), reply: RuleReply(text: "421 4.3.2 going"), close: true),
        ])
        d.send("EHLO c\r\nSTARTTLS\r\n")
        d.tls()
        d.send("EHLO c\r\n")
        XCTAssertEqual(d.codes, [250, 220], "EHLO inside TLS gets no answer")
        d.send("NOOP\r\nNOOP\r\n")
        XCTAssertEqual(d.codes, [250, 220, 421])
        XCTAssertTrue(d.closed)
    }

    /// Every condition counts only the matches it allows (issue 27: a `tls:` that no longer
    /// guarded the count let the EHLO before STARTTLS use up `nth: 1`, and the rule never fired).
    func testEachConditionGuardsTheCount() {
        // tls: the first EHLO inside TLS is the first match.
        var tls = driver([ServerRule(on: .verb("EHLO"), condition: RuleCondition(nth: 1, tls: true), reply: RuleReply(text: "250 in tls by rule"))])
        tls.send("EHLO c\r\nSTARTTLS\r\n")
        tls.tls()
        tls.send("EHLO c\r\n")
        XCTAssertEqual(tls.replies.last?.lines.first?.text, "in tls by rule")
        var plain = driver([ServerRule(on: .verb("EHLO"), condition: RuleCondition(nth: 2, tls: false), reply: RuleReply(text: "250 second plaintext EHLO"))])
        plain.send("EHLO c\r\nSTARTTLS\r\n")
        plain.tls()
        plain.send("EHLO c\r\nEHLO c\r\n")
        XCTAssertFalse(plain.replies.contains { $0.lines.first?.text == "second plaintext EHLO" }, "the EHLOs inside TLS are no plaintext matches")
        // in-transaction: a NOOP outside the transaction is no match.
        var inside = driver([ServerRule(on: .verb("NOOP"), condition: RuleCondition(nth: 1), inTransaction: true, reply: RuleReply(text: "250 inside by rule"))])
        inside.send("EHLO c\r\nNOOP\r\n" + Self.mail + "NOOP\r\n")
        XCTAssertEqual(inside.replies.map { $0.lines.first?.text ?? "" }.filter { $0.contains("by rule") }, ["inside by rule"])
        XCTAssertEqual(inside.codes.count, 4)
        // pattern: only matching lines count.
        var pattern = driver([ServerRule(on: .verb("RCPT"), pattern: TextPattern("RCPT TO:<carol@*"), condition: RuleCondition(nth: 1), reply: RuleReply(text: "451 4.3.0 carol later"))])
        pattern.send("EHLO c\r\n" + Self.mail + Self.rcpt + "RCPT TO:<carol@y.test>\r\n")
        XCTAssertEqual(pattern.codes, [250, 250, 250, 451])
        // connections: another connection's matches are not counted here (each counts its own).
        let rule = ServerRule(on: .verb("NOOP"), condition: RuleCondition(nth: 1), connections: ["C2"], reply: RuleReply(text: "250 C2 by rule"))
        var c1 = driver([rule], id: "C1"), c2 = driver([rule], id: "C2")
        c1.send("EHLO c\r\nNOOP\r\n")
        c2.send("EHLO c\r\nNOOP\r\n")
        XCTAssertNotEqual(c1.replies.last?.lines.first?.text, "C2 by rule")
        XCTAssertEqual(c2.replies.last?.lines.first?.text, "C2 by rule")
        // probability: the count still advances on a match that does not fire.
        var chance = driver([ServerRule(on: .verb("NOOP"), condition: RuleCondition(nth: 3, probability: Ratio(1, 1)), reply: RuleReply(text: "250 third by rule"))])
        chance.send("EHLO c\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        XCTAssertEqual(chance.replies.map { $0.lines.first?.text ?? "" }.firstIndex(of: "third by rule"), 4, "greeting, EHLO, then the third NOOP")
    }

    func testARefusingGreetingAnswersOnlyQUIT() {
        var d = driver([ServerRule(on: .greeting, reply: RuleReply(lines: ["554-no", "554 service"]))])
        XCTAssertEqual(d.replies.first?.code.value, 554)
        d.send("EHLO c\r\n" + Self.mail + "QUIT\r\n")
        XCTAssertEqual(d.codes, [503, 503, 221], "RFC 5321 §3.1")
        XCTAssertTrue(d.closed)
    }

    func testTheEndOfDataDecidesTheMessage() {
        for (act, accepted) in [(false, 0), (true, 1)] {
            var d = driver([ServerRule(on: .endOfData, reply: RuleReply(text: "250 2.0.0 said so"), act: act)])
            d.send("EHLO c\r\n" + Self.mail + Self.rcpt + "DATA\r\nhi\r\n.\r\n" + Self.mail)
            XCTAssertEqual(d.codes, [250, 250, 250, 354, 250, 250], "act \(act)")
            XCTAssertEqual(d.replies[5].lines.first?.text, "said so")
            XCTAssertEqual(d.maildrop.messages.count, accepted, "act \(act)")
        }
    }

    func testARefusedChunkIsStillReadAndFailsTheSequence() {
        var d = driver([ServerRule(on: .verb("BDAT"), condition: RuleCondition(nth: 1), reply: RuleReply(text: "452 4.3.1 full"))])
        d.send("EHLO c\r\n" + Self.mail + Self.rcpt + "BDAT 5\r\nhello" + "BDAT 3 LAST\r\nabc" + "NOOP\r\n")
        XCTAssertEqual(d.codes, [250, 250, 250, 452, 503, 250], "RFC 3030 §2: read, refused, the rest refused")
        XCTAssertEqual(d.maildrop.messages.count, 0)
    }

    func testARulesAnswerIsForItsCommandNotForA421() {
        // Found by the Simulation target: a BDAT rule that acts waits for the chunk's end to
        // answer; a shutdown before it must say 421, not the rule's 250.
        var d = driver([ServerRule(on: .verb("BDAT"), reply: RuleReply(text: "250 2.0.0 ok (by rule)"))])
        d.send("EHLO c\r\n" + Self.mail + Self.rcpt + "BDAT 10 LAST\r\nhalf")
        d.shutdown()
        XCTAssertEqual(d.codes, [250, 250, 250, 421])
        XCTAssertEqual(d.maildrop.messages.count, 0)
        var t = driver([ServerRule(on: .verb("BDAT"), reply: RuleReply(text: "250 2.0.0 ok (by rule)"))])
        t.send("EHLO c\r\n" + Self.mail + Self.rcpt + "BDAT 10 LAST\r\nhalf")
        t.fire(.idle)
        XCTAssertEqual(t.codes.last, 421)
    }

    func testARuleForSomeConnectionsOnly() {
        let rule = ServerRule(on: .greeting, connections: ["C2"], reply: RuleReply(text: "421 4.3.2 busy"), close: true)
        XCTAssertEqual(driver([rule], id: "C1").replies.first?.code.value, 220)
        let second = driver([rule], id: "C2")
        XCTAssertEqual(second.replies.first?.code.value, 421)
        XCTAssertTrue(second.closed)
    }

    func testProbabilityIsFixedBySeedAndConnection() {
        func fired(seed: UInt64, id: String) -> [Int] {
            var d = driver([ServerRule(on: .verb("NOOP"), condition: RuleCondition(probability: Ratio(1, 4)), reply: RuleReply(text: "450 no"))], seed: seed, id: id)
            d.send("EHLO c\r\n" + String(repeating: "NOOP\r\n", count: 400))
            return d.codes.dropFirst().enumerated().compactMap { $0.element == 450 ? $0.offset : nil }
        }
        let a = fired(seed: 7, id: "C1")
        XCTAssertEqual(a, fired(seed: 7, id: "C1"), "the same seed makes the same choices")
        XCTAssertNotEqual(a, fired(seed: 8, id: "C1"))
        XCTAssertNotEqual(a, fired(seed: 7, id: "C2"), "each connection draws its own")
        XCTAssertTrue((70...130).contains(a.count), "about a quarter of 400: \(a.count)")
    }
}
