import EndpointHosting
import XCTest

/// The one tracker both drivers consult: where each trigger strikes, once, with no cap on rules.
final class TriggerTrackerTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A short session: greeting, EHLO, MAIL, RCPT, DATA, 354, body, dot, reply; twice.
    private func session(_ tracker: inout TriggerTracker, messages: Int = 2, body: (Int) -> [String] = { ["Subject: \($0)\r\n\r\nline\r\n", ".\r\n"] }) -> [(Side, [UInt8], [TriggerTracker.Firing])] {
        var log: [(Side, [UInt8], [TriggerTracker.Firing])] = []
        func write(_ side: Side, _ text: [UInt8]) {
            let f = tracker.firings(text, by: side, epoch: 0, armed: true)
            tracker.advance(past: text, by: side)
            log.append((side, text, f))
        }
        write(.server, bytes("220 mx ESMTP\r\n"))
        write(.client, bytes("EHLO c\r\n"))
        write(.server, bytes("250-mx\r\n250 PIPELINING\r\n"))
        for m in 1...messages {
            write(.client, bytes("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"))
            write(.server, bytes("250 ok\r\n250 ok\r\n354 go\r\n"))
            for part in body(m) { write(.client, bytes(part)) }
            write(.server, bytes("250 queued\r\n"))
        }
        write(.client, bytes("QUIT\r\n"))
        return log
    }

    func testMidBodyOccurrenceTwoStrikesInTheSecondMessageOnly() {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .phase(.midBody), occurrence: 2)], connection: 1)
        let log = session(&tracker, body: { ["Subject: \($0)\r\n", "\r\nmore\r\n", ".\r\n"] })
        let struck = log.filter { !$0.2.isEmpty }
        XCTAssertEqual(struck.count, 1)
        XCTAssertEqual(String(decoding: struck[0].1, as: UTF8.self), "Subject: 2\r\n", "the first data write of the second message")
        XCTAssertEqual(struck[0].2[0].afterOctets, struck[0].1.count / 2)
    }

    func testFinalReplyStrikesAfterTheReplyToEachDot() {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .phase(.afterFinalReply), occurrence: 2)], connection: nil)
        let log = session(&tracker)
        let struck = log.filter { !$0.2.isEmpty }
        XCTAssertEqual(struck.map { String(decoding: $0.1, as: UTF8.self) }, ["250 queued\r\n"])
        XCTAssertEqual(struck[0].2[0].afterOctets, struck[0].1.count, "after the whole reply")
        XCTAssertEqual(tracker.landmarks.finalDots, 2)
        XCTAssertEqual(tracker.landmarks.dataSections, 2)
    }

    func testAPatternSplitAcrossWritesIsFoundAndCutAfterTheMatch() {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .write(side: .client, pattern: "RCPT TO:", cut: .afterMatch, epoch: nil))], connection: 1)
        XCTAssertEqual(tracker.firings(bytes("MAIL FROM:<a@x>\r\nRCP"), by: .client, epoch: 0, armed: true), [])
        tracker.advance(past: bytes("MAIL FROM:<a@x>\r\nRCP"), by: .client)
        let f = tracker.firings(bytes("T TO:<b@y>\r\n"), by: .client, epoch: 0, armed: true)
        XCTAssertEqual(f, [TriggerTracker.Firing(rule: 0, afterOctets: 5)], "the cut is right after the match, inside this write")
    }

    func testDataIsNotCommandsAndBDATChunksAreSkipped() {
        var tracker = TriggerTracker(rules: [], connection: nil)
        // A 354 that answers no DATA (a greeting, a rule's answer to MAIL) invites no data.
        tracker.advance(past: bytes("354 go\r\n"), by: .server)
        XCTAssertEqual(tracker.advance(past: bytes("MAIL FROM:<a@x>\r\n"), by: .client)?.commands.map { String(decoding: $0, as: UTF8.self) }, ["MAIL FROM:<a@x>"])
        tracker.advance(past: bytes("DATA\r\n"), by: .client)
        tracker.advance(past: bytes("354 go\r\n"), by: .server)
        let data = tracker.advance(past: bytes("AUTH PLAIN looks-like-a-command\r\n.\r\nQUIT\r\n"), by: .client)
        XCTAssertEqual(data?.wasData, true)
        XCTAssertEqual(data?.commands.map { String(decoding: $0, as: UTF8.self) }, ["QUIT"])
        let chunk = tracker.advance(past: bytes("BDAT 12 LAST\r\nRSET\r\nNOOP\r\nNOOP\r\n"), by: .client)
        XCTAssertEqual(chunk?.commands.map { String(decoding: $0, as: UTF8.self) }, ["BDAT 12 LAST", "NOOP"])
    }

    func testAnswersToAUTHChallengesAreNotCommands() {
        var tracker = TriggerTracker(rules: [], connection: nil)
        func lines(_ s: [ArraySlice<UInt8>]?) -> [String] { (s ?? []).map { String(decoding: $0, as: UTF8.self) } }
        // Without an initial response the next line answers the challenge, even pipelined.
        let plain = tracker.advance(past: bytes("AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"), by: .client)
        XCTAssertEqual(lines(plain?.commands), ["AUTH PLAIN"])
        XCTAssertEqual(lines(plain?.saslResponses), ["AGFsaWNlAHNlY3JldA=="])
        tracker.advance(past: bytes("334 \r\n235 2.7.0 ok\r\n"), by: .server)
        XCTAssertEqual(lines(tracker.advance(past: bytes("MAIL FROM:<a@x>\r\n"), by: .client)?.commands), ["MAIL FROM:<a@x>"], "the exchange is over")
        // With one, a line answers only a 334 (LOGIN's password prompt).
        let login = tracker.advance(past: bytes("AUTH LOGIN YWxpY2U=\r\n"), by: .client)
        XCTAssertEqual(lines(login?.saslResponses), [])
        tracker.advance(past: bytes("334 UGFzc3dvcmQ6\r\n"), by: .server)
        XCTAssertEqual(lines(tracker.advance(past: bytes("c2VjcmV0\r\n"), by: .client)?.saslResponses), ["c2VjcmV0"])
        tracker.advance(past: bytes("535 5.7.8 no\r\n"), by: .server)
        XCTAssertEqual(lines(tracker.advance(past: bytes("NOOP\r\n"), by: .client)?.saslResponses), [])
    }

    func testEachRuleFiresOnceAndThereIsNoCapOnRules() {
        let rules = (0..<200).map { _ in FaultRule(.stall(duration: 1), at: .phase(.afterMAIL)) }
        var tracker = TriggerTracker(rules: rules, connection: 1)
        let first = tracker.firings(bytes("MAIL FROM:<a@x>\r\n"), by: .client, epoch: 0, armed: true)
        XCTAssertEqual(first.map(\.rule), Array(0..<200), "rule 65 and rule 200 fire like rule 1")
        XCTAssertEqual(tracker.firings(bytes("MAIL FROM:<a@x>\r\n"), by: .client, epoch: 0, armed: true), [], "once each")
    }

    func testRulesForOtherConnectionsAndUnarmedWritesNeverFire() {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .phase(.afterMAIL), connections: [2])], connection: 1)
        XCTAssertEqual(tracker.firings(bytes("MAIL FROM:<a@x>\r\n"), by: .client, epoch: 0, armed: true), [])
        var other = TriggerTracker(rules: [FaultRule(.reset, at: .phase(.afterMAIL))], connection: 2)
        XCTAssertEqual(other.firings(bytes("MAIL FROM:<a@x>\r\n"), by: .client, epoch: 0, armed: false), [], "outside the fault window")
        XCTAssertFalse(other.markFired(7), "no such rule")
    }

    func testHandshakeBytesCutsWhereTheCountIsReached() {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .handshakeBytes(200))], connection: 1)
        XCTAssertEqual(tracker.handshake(octets: 150, armed: true), [])
        XCTAssertEqual(tracker.handshake(octets: 120, armed: true), [TriggerTracker.Firing(rule: 0, afterOctets: 50)])
        XCTAssertEqual(tracker.handshake(octets: 500, armed: true), [])
    }
}
