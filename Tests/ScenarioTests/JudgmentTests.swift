import EndpointHosting
import Scenario
import Simulation
import XCTest

/// Expectations judge what each side received, findings name the side at fault and every
/// occurrence, and trace matching sees whole writes (issue 15).
final class JudgmentTests: XCTestCase {
    static let client = """
        client:
          policy: opportunistic
          messages:
            - {from: alice@example.test, to: bob@example.net, body: "hi"}

        """

    func failures(_ body: String, client: String = JudgmentTests.client) throws -> [String] {
        let scenario = try ScenarioLoader.parse("version: 1\nname: judged\n" + client + body, file: "judged.yaml")
        return try ScenarioRunner.run(scenario).failures
    }

    func testARepliedReplacedOnTheWayIsWhatTheClientSaw() throws {
        let fault = """
            faults:
              - replace-reply: {with: "451 4.3.0 replaced on the way\\r\\n", at: {server-writes: "250 2.1.0"}}

            """
        XCTAssertEqual(try failures(fault + "expect: {messages: [not-delivered], replies-seen: ['451 4.3.0 replaced'], findings: any}"), [])
        // The server wrote its 250, never the 451; the client never read the 250 2.1.0.
        XCTAssertEqual(try failures(fault + "expect: {messages: [temporary-failure], replies-seen: {written: ['250 2.1.0']}, findings: any}"), [])
        XCTAssertEqual(try failures(fault + "expect: {replies-seen: {written: ['451 4.3.0']}, findings: any}"),
                       ["replies-seen.written: no reply line the server wrote starts with '451 4.3.0'"])
        XCTAssertEqual(try failures(fault + "expect: {replies-seen: ['250 2.1.0'], findings: any}"),
                       ["replies-seen: no reply line the client read starts with '250 2.1.0'"])
        XCTAssertEqual(try failures(fault + "expect: {messages: [delivered], findings: any}").map { String($0.prefix(48)) },
                       ["messages: expected [\"delivered\"], got [\"temporar"])
    }

    func testABareChallengeIsAReplyGrammarFindingNamingRFC4954() throws {
        // RFC 4954 §4: `continue-req = "334" SP [base64] CRLF`. smtpsim's own challenge has its SP
        // (no finding); a rule that answers AUTH with a bare "334" is the user's choice, sent as
        // written, and the oracle reports it.
        func findings(_ reply: String) throws -> [Finding] {
            let yaml = """
                version: 1
                name: bare challenge
                server:
                  auth: {users: {alice: secret}}
                  rules:
                    - {at: AUTH, reply: "\(reply)"}
                client:
                  policy: required
                  auth: {user: alice, password: secret, mechanisms: [LOGIN]}
                  messages:
                    - {from: alice@example.test, to: bob@example.net, body: "hi"}

                """
            let run = try ScenarioRunner.run(try ScenarioLoader.parse(yaml, file: "bare.yaml"), trace: .always)
            return run.result.findings
        }
        let bare = try findings("334").filter { $0.oracle == .replyGrammar }
        XCTAssertEqual(bare.map(\.label), ["reply-grammar (server)"])
        XCTAssertEqual(bare.first?.reference, "RFC 4954 §4")
        XCTAssertTrue(bare.first?.explanation.contains("bare-challenge") ?? false, bare.description)
        XCTAssertEqual(try findings("334 ").filter { $0.oracle == .replyGrammar }, [])
    }

    func testAnAttackersReplyIsSeenButNotWritten() throws {
        let attack = """
            attacker:
              - inject-to-client: {bytes: "250-evil.example\\r\\n250 AUTH PLAIN\\r\\n"}

            """
        XCTAssertEqual(try failures(attack + "expect: {replies-seen: ['250-evil.example'], findings: any}"), [])
        XCTAssertEqual(try failures(attack + "expect: {replies-seen: {written: ['250-evil.example']}, findings: any}"),
                       ["replies-seen.written: no reply line the server wrote starts with '250-evil.example'"])
    }

    func testAClientAndAServerFindingOnOneConnectionAreBothReported() throws {
        let both = """
            server:
              flaws: [offers-auth-plain-before-tls]
              auth: {users: {alice: secret}}
            client:
              policy: opportunistic
              flaws: [sends-auth-before-tls]
              auth: {user: alice, password: secret}
              messages:
                - {from: alice@example.test, to: bob@example.net, body: "hi"}

            """
        let scenario = try ScenarioLoader.parse("version: 1\nname: both\n" + both, file: "both.yaml")
        let findings = try ScenarioRunner.run(scenario).result.findings
        XCTAssertEqual(findings.map(\.label), ["plaintext-exposure (server)", "plaintext-exposure (client)"])
        XCTAssertEqual(try failures("expect: {findings: {client: [plaintext-exposure], server: [plaintext-exposure]}}", client: both), [])
        XCTAssertEqual(try failures("expect: {findings: {server: [plaintext-exposure]}}", client: both),
                       ["findings.client: expected [], got plaintext-exposure"])
        XCTAssertEqual(try failures("expect: {findings: {client: [plaintext-exposure], server: [tls-boundary]}}", client: both),
                       ["findings.server: expected [\"tls-boundary\"], got plaintext-exposure"])
    }

    func testEveryOccurrenceOnAConnectionIsReported() throws {
        // A client that falls back to plaintext under a policy that requires TLS sends both
        // messages' envelopes in the clear on one connection: a finding for each write.
        let client = """
            client:
              policy: required
              pipelining: false
              flaws: [falls-back-to-plaintext]
              messages:
                - {from: alice@example.test, to: bob@example.net, body: "one"}
                - {from: alice@example.test, to: bob@example.net, body: "two"}
            attacker:
              - strip-starttls

            """
        let scenario = try ScenarioLoader.parse("version: 1\nname: twice\n" + client, file: "twice.yaml")
        let findings = try ScenarioRunner.run(scenario).result.findings.filter { $0.oracle == .plaintextExposure }
        XCTAssertEqual(findings.count, 6, findings.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(findings.allSatisfy { $0.side == .client && $0.explanation.hasPrefix("connection 1:") })
    }

    func testTraceMatchingSeesAWholeLongWrite() throws {
        let tail = "END-OF-A-LONG-LINE"
        let server = """
            server:
              extensions: [STARTTLS, PIPELINING, "X-LONG \(String(repeating: "a", count: 560))\(tail)"]

            """
        // The text form cuts the write at 120 characters; the match reads every octet.
        XCTAssertEqual(try failures(server + "expect: {messages: [delivered], trace-contains: ['aa\(tail)\\r\\n', '250 X-LONG aaa'], findings: {server: [reply-grammar]}}"), [])
        XCTAssertEqual(try failures(server + "expect: {trace-lacks: ['\(tail)'], findings: any}"), ["trace-lacks: '\(tail)' is in the trace"])
    }
}
