import SMTPClient
import SMTPCore
import XCTest

/// Every phase of the client against 2yz, 4yz and 5yz replies: what it sends next and how the
/// message ends (issue 4: table-driven), fed whole, byte by byte and in random splits.
final class ClientReplyTableTests: XCTestCase {
    /// Feeds the replies one by one (the client may only answer after each), returns what the
    /// client sent (as lines) and the message status.
    private func script(_ replies: [String], policy: TLSPolicy = .plaintext, pipelining: Bool = false, feeding: Feeding = .whole)
        -> (sent: [String], status: DeliveryStatus?)
    {
        var c = SMTPClientConnection(configuration: .with { $0.policy = policy; $0.usePipelining = pipelining }, messages: [message()])
        var sent: [String] = []
        func take(_ actions: [ClientAction]) {
            for case .send(let b) in actions {
                sent += String(decoding: b, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            }
        }
        take(c.start())
        for reply in replies {
            for segment in feeding.segments(Array(reply.utf8)) { take(c.receive(segment)) }
        }
        return (sent, c.outcomes.first?.status)
    }

    func testPhaseByReplyClass() {
        let ehlo = "250-mx\r\n250 SIZE\r\n"
        let rows: [(String, [String], [String], DeliveryStatus?)] = [
            ("greeting 220", ["220 mx\r\n"], ["EHLO client.example.test"], nil),
            ("greeting 554", ["554 no\r\n"], ["QUIT"], .temporaryFailure),
            ("greeting 421", ["421 busy\r\n"], [], .temporaryFailure),
            ("ehlo 250", ["220 mx\r\n", ehlo], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>"], nil),
            ("ehlo 500 → HELO", ["220 mx\r\n", "500 eh?\r\n"], ["EHLO client.example.test", "HELO client.example.test"], nil),
            ("ehlo 421", ["220 mx\r\n", "421 bye\r\n"], ["EHLO client.example.test"], .temporaryFailure),
            ("mail 250", ["220 mx\r\n", ehlo, "250 ok\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>"], nil),
            ("mail 451", ["220 mx\r\n", ehlo, "451 later\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "QUIT"], .temporaryFailure),
            ("mail 550", ["220 mx\r\n", ehlo, "550 no\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "QUIT"], .permanentFailure),
            ("rcpt 250", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA"], nil),
            ("rcpt 450", ["220 mx\r\n", ehlo, "250 ok\r\n", "450 busy\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "RSET"], .temporaryFailure),
            ("rcpt 550", ["220 mx\r\n", ehlo, "250 ok\r\n", "550 no\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "RSET"], .permanentFailure),
            ("data 354", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n", "354 go\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA", "Subject: hi", "", "hello", "."], nil),
            ("data 451", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n", "451 no\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA", "RSET"], .temporaryFailure),
            ("final 250", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA", "Subject: hi", "", "hello", ".", "QUIT"], .delivered),
            ("final 452", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "452 full\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA", "Subject: hi", "", "hello", ".", "QUIT"], .temporaryFailure),
            ("final 554", ["220 mx\r\n", ehlo, "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "554 spam\r\n"], ["EHLO client.example.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA", "Subject: hi", "", "hello", ".", "QUIT"], .permanentFailure),
        ]
        for (name, replies, sent, status) in rows {
            for feeding in Feeding.three {
                let got = script(replies, feeding: feeding)
                XCTAssertEqual(got.sent, sent, "\(name), \(feeding)")
                XCTAssertEqual(got.status, status, "\(name), \(feeding)")
            }
        }
    }

    func testSTARTTLSPhaseByPolicy() {
        let ehlo = "250-mx\r\n250 STARTTLS\r\n"
        let rows: [(TLSPolicy, String, String?, DeliveryStatus?)] = [
            (.required, "220 go\r\n", nil, nil),
            (.required, "454 no\r\n", "QUIT", .temporaryFailure),
            (.required, "502 no\r\n", "QUIT", .temporaryFailure),
            (.opportunistic, "454 no\r\n", "MAIL FROM:<alice@example.test>", nil),
            (.opportunistic, "220 go\r\n", nil, nil),
        ]
        for (policy, reply, next, status) in rows {
            let got = script(["220 mx\r\n", ehlo, reply], policy: policy)
            XCTAssertEqual(got.sent.prefix(2), ["EHLO client.example.test", "STARTTLS"])
            XCTAssertEqual(got.sent.dropFirst(2).first, next, "\(policy) \(reply)")
            XCTAssertEqual(got.status, status, "\(policy) \(reply)")
        }
    }
}
