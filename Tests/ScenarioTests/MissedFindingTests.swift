import EndpointHosting
import Scenario
import Simulation
import XCTest

/// Findings that were missed (issue 27), each with its scenario kept as a test.
final class MissedFindingTests: XCTestCase {
    func findings(_ text: String) throws -> [Finding] {
        try ScenarioRunner.run(try ScenarioLoader.parse("version: 1\nname: missed\n" + text + "expect: {findings: any}\n", file: "missed.yaml")).result.findings
    }

    static let client = """
        client:
          policy: opportunistic
          messages:
            - {from: alice@example.test, to: bob@example.net, body: "x"}

        """

    /// EAST's "250 with every extension": a plaintext AUTH offer on an EHLO line over 512 octets
    /// (smtpsim's client reads lines up to 4,096, so the oracle must too).
    func testALongAUTHLineBeforeTLSIsStillAnOffer() throws {
        let mechanisms = (1...60).map { "X-MECH-\($0)" }.joined(separator: " ")
        let text = """
            server:
              rules:
                - {at: EHLO, tls: false, reply: ["250-mx.example.test", "250-AUTH \(mechanisms) PLAIN LOGIN", "250 STARTTLS"]}

            """ + Self.client
        XCTAssertGreaterThan("250-AUTH \(mechanisms) PLAIN LOGIN".utf8.count, 512)
        let f = try findings(text).filter { $0.oracle == .plaintextExposure }
        XCTAssertEqual(f.map(\.label), ["plaintext-exposure (server)"], "\(f)")
        XCTAssertTrue(f.first?.explanation.contains("PLAIN LOGIN") ?? false)
    }

    /// Credentials a client sends in the clear after a 354 greeting are credentials (a 354 opens
    /// message data only when it answers DATA, as the server reads the stream); after a 554
    /// greeting the same octets were already flagged.
    func testCredentialsAfterAnOddGreetingAreFlagged() throws {
        for greeting in ["354 go ahead", "554 no service", "220 mx.example.test"] {
            let text = """
                server:
                  rules:
                    - {at: greeting, reply: "\(greeting)"}
                client:
                  policy: opportunistic
                  intended:
                    - {from: alice@example.test, to: bob@example.net, body: "x"}
                  script:
                    - expect: "\(greeting.prefix(3))"
                    - send-line: EHLO c.test
                    - send-line: AUTH PLAIN AGFsaWNlAHNlY3JldA==
                    - close

                """
            let f = try findings(text).filter { $0.oracle == .plaintextExposure }
            XCTAssertEqual(f.map(\.label), ["plaintext-exposure (client)"], "\(greeting): \(f)")
        }
    }

    /// A password sent in the clear as the answer to a challenge (AUTH PLAIN without an initial
    /// response, AUTH LOGIN's prompts), not on the AUTH command line.
    func testAnAnswerToAChallengeIsACredential() throws {
        for (auth, answers) in [("AUTH PLAIN", ["AGFsaWNlAHNlY3JldA=="]), ("AUTH LOGIN YWxpY2U=", ["c2VjcmV0"])] {
            let text = """
                server:
                  flaws: [offers-auth-plain-before-tls]
                  auth: {users: {alice: secret}}
                client:
                  policy: opportunistic
                  intended:
                    - {from: alice@example.test, to: bob@example.net, body: "x"}
                  script:
                    - expect: "220"
                    - send-line: EHLO c.test
                    - expect: "250"
                    - send-line: \(auth)
                    - expect: "334"
                \(answers.map { "    - send-line: \($0)\n    - expect: \"235\"" }.joined(separator: "\n"))
                    - close

                """
            let f = try findings(text).filter { $0.oracle == .plaintextExposure && $0.side == .client }
            XCTAssertTrue(f.contains { $0.explanation.contains("its answer to an AUTH challenge") }, "\(auth): \(f)")
        }
        // `*` cancels: no credential; and a MAIL after a completed exchange is a command again.
        let cancel = """
            server:
              flaws: [offers-auth-plain-before-tls]
              auth: {users: {alice: secret}}
            client:
              policy: opportunistic
              intended:
                - {from: alice@example.test, to: bob@example.net, body: "x"}
              script:
                - expect: "220"
                - send-line: EHLO c.test
                - expect: "250"
                - send-line: AUTH PLAIN
                - expect: "334"
                - send-line: "*"
                - expect: "501"
                - send-line: NOOP
                - expect: "250"
                - close

            """
        XCTAssertEqual(try findings(cancel).filter { $0.side == .client }.map(\.description), [])
    }

    /// A message smuggled *into* the relay at the first hop: the relay (its inbound side ends data
    /// at LF.CRLF) accepts a message no client sent; the transaction count says so at that hop,
    /// and the smuggling oracle end to end. Counting the relay's own forwarded copies as messages
    /// a client meant to send once hid the first (issue 27).
    func testAMessageSmuggledIntoTheRelayAtTheFirstHopIsCaughtThere() throws {
        let text = """
            client:
              policy: required
              line-endings: pass-through
              flaws: [skips-dot-stuffing]
              messages:
                - from: attacker@evil.example
                  to: [bob@example.net]
                  body-raw: "Subject: hi\\r\\n\\r\\nhello\\n.\\r\\nMAIL FROM:<ceo@bank.example>\\r\\nRCPT TO:<bob@example.net>\\r\\nDATA\\r\\nSubject: pay\\r\\n\\r\\nwire the money\\r\\n"
            relay:
              line-endings: normalize
              server: {flaws: [accepts-bare-lf-end-of-data]}
              client: {policy: required}

            """
        let f = try findings(text)
        XCTAssertTrue(f.contains { $0.label == "transaction-count (server)" && $0.explanation.hasPrefix("the relay accepted a message no client sent: from <ceo@bank.example>") }, "\(f)")
        XCTAssertTrue(f.contains { $0.label == "smuggling (server)" }, "\(f)")
    }
    /// A scripted client that takes no notice of the server's 220 to its STARTTLS and sends its
    /// envelope in the clear on the same connection (RFC 3207 §4.1), as `swaks --tls-optional`
    /// does after a failed handshake: the client's finding, in the simulator as on a socket
    /// (`SessionJudge`). A client that read a 454 (an attacker replaced the 220) and goes on in
    /// the clear under an opportunistic policy is not at fault: the judge follows what the
    /// client read, not what the server wrote.
    func testAClientGoingOnInTheClearAfterA220ToSTARTTLSIsFlagged() throws {
        let scripted = """
            server:
              rules:
                - {at: STARTTLS, reply: "220 2.0.0 Ready to start TLS", act: false}
            client:
              script:
                - expect: "220"
                - send-line: EHLO c.test
                - expect: "250"
                - send-line: STARTTLS
                - expect: "220"
                - send-line: MAIL FROM:<alice@example.test>
                - expect: "250"
                - send-line: QUIT

            """
        let f = try findings(scripted).filter { $0.oracle == .plaintextExposure }
        XCTAssertEqual(f.map(\.label), ["plaintext-exposure (client)"], "\(f)")
        XCTAssertTrue(f.first?.explanation.contains("MAIL FROM:<alice@example.test> in plaintext after the server's 220 to its STARTTLS") ?? false, "\(f)")
        let stripped = "attacker: [{replace-starttls-reply: {with: \"454 4.7.0 TLS not available\"}}]\n" + Self.client
        XCTAssertEqual(try findings(stripped).filter { $0.oracle == .plaintextExposure }.map(\.description), [])
    }
}
