import SMTPClient
import Scenario
import Simulation
import XCTest

/// Outcomes per recipient (RFC 5321 §4.2.5, §6.1; issue 27): a 4yz to one RCPT leaves that
/// recipient undelivered and to be retried alone; a 5yz is reported and never retried; the
/// transaction-count oracle counts per recipient.
final class RecipientOutcomeTests: XCTestCase {
    static func yaml(rules: String, retries: String = "{max: 1}", flaws: String = "[]", to: String = "[bob@example.net, carol@example.net]", expect: String = "findings: none") -> String {
        """
        version: 1
        name: per recipient
        server:
          rules:
        \(rules)
        client:
          policy: required
          retries: \(retries)
          flaws: \(flaws)
          messages:
            - {from: alice@example.test, to: \(to), body: "one"}
        expect:
          \(expect)

        """
    }

    func run(_ text: String) throws -> ScenarioReport {
        try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "recipients.yaml"))
    }

    func testA451ToOneRecipientLeavesTheMessageUndeliveredForIt() throws {
        let r = try run(Self.yaml(rules: "    - {at: RCPT, nth: 2, reply: \"451 4.3.0 try later\"}"))
        XCTAssertEqual(r.result.outcomes.map(\.status), [.temporaryFailure], "not delivered: carol never got it")
        let recipients = try XCTUnwrap(r.result.outcomes.first?.recipients)
        XCTAssertEqual(recipients.map(\.recipient.description), ["<bob@example.net>", "<carol@example.net>"])
        XCTAssertEqual(recipients.map(\.status), [.delivered, .temporaryFailure])
        XCTAssertEqual(recipients[1].reply?.description, "451 4.3.0 try later")
        XCTAssertEqual(r.result.accepted.map { $0.recipients.map(\.description) }, [["<bob@example.net>"]])
        XCTAssertEqual(r.result.findings, [])
        XCTAssertEqual(r.failures, [])
    }

    func testTheRetryGoesToTheDeferredRecipientAlone() throws {
        let r = try run(Self.yaml(rules: "    - {at: RCPT, nth: 2, connections: [1], reply: \"451 4.3.0 try later\"}", retries: "{delay: 10m, max: 3}"))
        XCTAssertEqual(r.result.connections, 2)
        XCTAssertEqual(r.result.accepted.map { $0.recipients.map(\.description) }, [["<bob@example.net>"], ["<carol@example.net>"]],
                       "bob gets it once, carol once: the retry names carol alone")
        let o = try XCTUnwrap(r.result.outcomes.first)
        XCTAssertEqual(o.status, .delivered)
        XCTAssertEqual(o.recipients.map(\.status), [.delivered, .delivered])
        XCTAssertEqual(o.recipients.map(\.attempt), [1, 2])
        XCTAssertEqual(r.result.findings, [], "a second acceptance of the message for another recipient is no duplicate")
    }

    func testA550ToOneRecipientIsReportedAndNeverRetried() throws {
        let r = try run(Self.yaml(rules: "    - {at: RCPT, nth: 2, reply: \"550 5.1.1 no such user\"}", retries: "{delay: 10m, max: 3}"))
        XCTAssertEqual(r.result.connections, 1)
        let o = try XCTUnwrap(r.result.outcomes.first)
        XCTAssertEqual(o.status, .delivered)
        XCTAssertEqual(o.recipients.map(\.status), [.delivered, .permanentFailure])
        XCTAssertEqual(o.refusedRecipients.map(\.description), ["<carol@example.net>"])
        XCTAssertEqual(r.result.findings, [])
    }

    func testA451AndA550ToEveryRecipientDefersTheDeferredOne() throws {
        // The last refusal is a 550, but bob's 451 still waits: the message is deferred (before,
        // the last refusal decided it and bob was lost).
        let r = try run(Self.yaml(rules: "    - {at: RCPT, nth: 1, reply: \"451 4.3.0 later\"}\n    - {at: RCPT, nth: 2, reply: \"550 5.1.1 no\"}"))
        let o = try XCTUnwrap(r.result.outcomes.first)
        XCTAssertEqual(o.status, .temporaryFailure)
        XCTAssertEqual(o.recipients.map(\.status), [.temporaryFailure, .permanentFailure])
    }

    func testARefusedMAILDefersEveryRecipientWhateverTheirRCPTsGot() throws {
        // Pipelined: MAIL deferred with 451, so the server refuses each RCPT as out of sequence;
        // those refusals are not the recipients' own (RFC 5321 §4.1.4): the message is deferred.
        let r = try run(Self.yaml(rules: "    - {at: MAIL, reply: \"451 4.3.0 later\"}"))
        let o = try XCTUnwrap(r.result.outcomes.first)
        XCTAssertEqual(o.status, .temporaryFailure)
        XCTAssertEqual(o.recipients.map(\.status), [.temporaryFailure, .temporaryFailure])
    }

    func testPerRecipientExpectations() throws {
        let rules = "    - {at: RCPT, nth: 2, reply: \"451 4.3.0 try later\"}"
        XCTAssertEqual(try run(Self.yaml(rules: rules, expect: "recipients: {bob@example.net: delivered, carol@example.net: temporary-failure}")).failures, [])
        XCTAssertEqual(try run(Self.yaml(rules: rules, expect: "recipients: {carol@example.net: delivered}")).failures,
                       ["recipients.carol@example.net: expected delivered, got temporary-failure for c1.m1 (451 4.3.0 try later)"])
        XCTAssertEqual(try run(Self.yaml(rules: rules, expect: "recipients: {dave@example.net: delivered}")).failures,
                       ["recipients.dave@example.net: no message was sent to it"])
        let messages = try run(Self.yaml(rules: rules, expect: "messages: [delivered]")).failures
        XCTAssertEqual(messages.count, 1)
        XCTAssertTrue(messages.first?.hasPrefix("messages: expected [\"delivered\"], got [\"temporary-failure\"]") ?? false, "\(messages)")
        XCTAssertThrowsError(try ScenarioLoader.parse(Self.yaml(rules: rules, expect: "recipients: {bob@example.net: lost}"), file: "x.yaml"))
    }

    func testAPossibleDuplicateIsItsOwnOutcome() throws {
        // A reset after the final dot: the server may hold the message for each recipient.
        let text = """
            version: 1
            name: reset after the dot
            client:
              retries: {max: 1}
              messages:
                - {from: alice@example.test, to: [bob@example.net, carol@example.net], body: "one"}
            faults:
              - reset: {at: after-final-dot}
            expect:
              messages: [possible-duplicate]
              recipients: {bob@example.net: possible-duplicate, carol@example.net: possible-duplicate}
              findings: any

            """
        XCTAssertEqual(try run(text).failures, [])
    }

    func testTheOracleCountsPerRecipient() throws {
        // A client that counts the deferred recipient as delivered: only a per-recipient count
        // sees that the server never accepted the message for carol.
        let flawed = try run(Self.yaml(rules: "    - {at: RCPT, nth: 2, reply: \"451 4.3.0 try later\"}", flaws: "[counts-deferred-recipients-as-delivered]",
                                       expect: "findings: {client: [outcome-classification]}"))
        XCTAssertEqual(flawed.failures, [])
        XCTAssertEqual(flawed.result.findings.map(\.explanation),
                       ["message c1.m1 counted as delivered to <carol@example.net> but the server never accepted it for <carol@example.net>"])
        XCTAssertEqual(flawed.result.outcomes.first?.status, .delivered)
    }
}
