import SMTPClient
import SMTPCore
import XCTest

/// Client rules (issue 15): at a reply by code, pattern and what it answers, send octets after
/// the client's own answer or instead of it, close; skip QUIT; pipeline regardless.
final class ClientRuleTests: XCTestCase {
    /// What the client sends after each reply, as text.
    func run(_ configure: (inout ClientConfiguration) -> Void, _ replies: [String]) -> (sent: [String], closed: Bool, status: DeliveryStatus?) {
        var c = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.usePipelining = false; configure(&$0) }, messages: [message("m1")])
        var sent: [String] = []
        var closed = false
        func take(_ actions: [ClientAction]) {
            for a in actions {
                if case .send(let b) = a { sent.append(String(decoding: b, as: UTF8.self)) }
                if case .close = a { closed = true }
            }
        }
        take(c.start())
        for r in replies { take(c.receive(Array(r.utf8))) }
        return (sent, closed, c.outcomes.first?.status)
    }

    static let session = ["220 mx\r\n", "250-mx\r\n250 PIPELINING\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n"]

    func testSendAfterTheOwnAnswerOrInsteadOfIt() {
        let after = run({ $0.rules = [ClientRule(code: "250", answering: .mail, send: Array("NOOP\r\n".utf8))] }, Array(Self.session.prefix(3)))
        XCTAssertEqual(after.sent.suffix(2), ["RCPT TO:<bob@example.net>\r\n", "NOOP\r\n"])
        let instead = run({ $0.rules = [ClientRule(code: "354", send: Array("Subject: x\r\n\nbare\n.\n".utf8), instead: true)] }, Array(Self.session.prefix(5)))
        XCTAssertEqual(instead.sent.last, "Subject: x\r\n\nbare\n.\n")
        XCTAssertFalse(instead.sent.contains { $0.contains("hello") }, "the client's own body is not sent")
    }

    func testAPatternTheNthTimeAndClosingWithoutQUIT() {
        // The second 250 whose line says "ok" (the RCPT's), then hang up at once.
        let r = run({ $0.rules = [ClientRule(code: "25", pattern: TextPattern("250 OK"), condition: RuleCondition(nth: 2), instead: true, close: true)] },
                    Array(Self.session.prefix(4)))
        XCTAssertEqual(r.sent.last, "RCPT TO:<bob@example.net>\r\n", "no DATA after the rule fired")
        XCTAssertTrue(r.closed)
    }

    func testSkipQuitAndPipeliningRegardless() {
        let quiet = run({ $0.skipsQuit = true }, Self.session)
        XCTAssertEqual(quiet.status, .delivered)
        XCTAssertFalse(quiet.sent.contains("QUIT\r\n"))
        XCTAssertTrue(quiet.closed)
        // No PIPELINING offered: the transaction goes in one write all the same.
        let eager = run({ $0.usePipelining = true; $0.pipelinesRegardless = true }, ["220 mx\r\n", "250 mx\r\n"])
        XCTAssertEqual(eager.sent.last, "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n")
        let polite = run({ $0.usePipelining = true }, ["220 mx\r\n", "250 mx\r\n"])
        XCTAssertEqual(polite.sent.last, "MAIL FROM:<alice@example.test>\r\n")
    }

    func testAnUnexpectedClassEndsTheSession() {
        // RFC 5321 §4.3.2: a 354 to MAIL is no answer the client can act on; the rest wait.
        var c = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.usePipelining = false }, messages: [message("m1"), message("m2")])
        _ = c.start()
        var sent: [String] = []
        for r in ["220 mx\r\n", "250 mx\r\n", "354 what\r\n"] {
            sent += c.receive(Array(r.utf8)).compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }
        }
        XCTAssertEqual(sent.last, "QUIT\r\n")
        XCTAssertEqual(c.outcomes.map(\.status), [.temporaryFailure, .temporaryFailure])
    }
}
