import Scenario
import Simulation
import XCTest

/// Findings that were wrong (issue 27), each with its scenario kept as a test: a compliant peer
/// must not be charged, and the flawed one still must.
final class FalseFindingTests: XCTestCase {
    func run(_ body: String, tls: String = "full", server: String = "") throws -> ScenarioReport {
        let text = """
            version: 1
            name: false finding
            tls: \(tls)
            \(server)
            client:
              policy: required
              intended:
                - {from: alice@example.test, to: bob@example.net, body: "x"}
              script:
                - expect: "220"
                - send-line: EHLO c.test
                - expect: "250"
                - send-line: STARTTLS
                - expect: "220"
                - start-tls
            \(body)
            expect:
              findings: any

            """
        return try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "false-finding.yaml"), trace: .always)
    }

    /// A scripted client ends its session with close_notify; the compliant server answers with its
    /// own close_notify (a TLS record: 24 octets `17 03 03 00 13 …` in TLS 1.3, 31 octets
    /// `15 03 03 …` in 1.2) and closes. That record is not cleartext the client read.
    func testThePeersAnsweringCloseNotifyIsNoCleartextReadAfterTheEnd() throws {
        let body = """
                - send-line: EHLO c.test
                - expect: "250"
                - close-notify
                - expect-close
            """
        for tls in ["full", "cheap", "cheap-tls12"] {
            let r = try run(body, tls: tls)
            XCTAssertEqual(r.result.findings.map(\.description), [], tls)
            XCTAssertFalse(r.result.trace.text.contains("script: expected"), "\(tls): the script met the server's close\n\(r.result.trace.text)")
        }
    }

    /// The same step, then a cleartext NOOP: the compliant server never reads it; a server that
    /// reads plaintext after close_notify answers it and is charged (not the client).
    func testCleartextAfterTheScriptsCloseNotifyChargesOnlyAFlawedServer() throws {
        let body = """
                - send-line: EHLO c.test
                - expect: "250"
                - close-notify
                - send-line: NOOP
                - expect: "250"
            """
        for tls in ["full", "cheap-tls12"] {
            let compliant = try run(body, tls: tls)
            XCTAssertEqual(compliant.result.findings.map(\.description), [], tls)
            let flawed = try run(body, tls: tls, server: "server: {flaws: [reads-plaintext-after-close-notify]}")
            XCTAssertEqual(Set(flawed.result.findings.map(\.label)), ["tls-teardown (server)"], "\(tls): \(flawed.result.findings)")
            XCTAssertTrue(flawed.result.findings.contains { $0.explanation.contains("the server read 6 octets in the clear") }, "\(flawed.result.findings)")
        }
    }

    /// A scripted client completes the handshake and says nothing; the compliant server's own
    /// 421 for the idle session, written inside TLS, answers time, not bytes from before TLS.
    func testAnIdleTimeoutInsideTLSIsNoActOnPreHandshakeBytes() throws {
        let r = try run("    - expect-close")
        XCTAssertEqual(r.result.findings.map(\.description), [])
        XCTAssertTrue(r.result.trace.text.contains("421"), "the server timed the session out inside TLS")
        // An injected command behind STARTTLS, acted on by a flawed server, is still caught.
        let injected = """
            version: 1
            name: injection
            server: {flaws: [keeps-plaintext-across-starttls]}
            client:
              policy: required
              intended:
                - {from: alice@example.test, to: bob@example.net, body: "x"}
              script:
                - expect: "220"
                - send-line: EHLO c.test
                - expect: "250"
                - send: "STARTTLS\\r\\nNOOP\\r\\n"
                - expect: "220"
                - start-tls
                - expect-close
            expect: {findings: any}

            """
        let flawed = try ScenarioRunner.run(try ScenarioLoader.parse(injected, file: "injected.yaml"))
        XCTAssertTrue(flawed.result.findings.contains { $0.label == "tls-boundary (server)" }, "\(flawed.result.findings)")
    }

    /// close_notify between BDAT chunks, then a cleartext `BDAT 7 LAST` (a fault's): a server that
    /// reads plaintext after close_notify completes the message from it; the compliant client,
    /// which never saw a 250 inside TLS, rightly defers. The server is at fault, not the client.
    func testAMessageCompletedInTheClearAfterCloseNotifyIsNotTheDeferringClientsFault() throws {
        let text = """
            version: 1
            name: close_notify between BDAT chunks, then a cleartext BDAT LAST
            server:
              flaws: [reads-plaintext-after-close-notify]
            client:
              policy: required
              chunking: true
              chunk-size: 16
              pipelining: false
              retries: {max: 1}
              messages:
                - {from: alice@example.test, to: [bob@example.net], body: "Subject: hi\\n\\nA body long enough for several chunks.\\n"}
            faults:
              - tls-close-notify: {from: client, at: between-bdat-chunks, then-plaintext: "BDAT 7 LAST\\r\\nabcdefg"}
            expect:
              messages: [temporary-failure]
              findings: {server: [tls-teardown], run: [round-trip]}

            """
        let r = try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "bdat-cleartext.yaml"))
        XCTAssertEqual(r.failures, [])
        XCTAssertEqual(r.result.accepted.map(\.completedAfterTLSEnd), [true], "the server took the message's end in the clear")
        XCTAssertFalse(r.result.findings.contains { $0.oracle == .outcomeClassification }, "\(r.result.findings)")
    }

    /// Every way a TLS session ends (close_notify, a fatal alert, a FIN behind close_notify), with
    /// the cleartext after it in the same segment and in a later one: a flawed server that reads
    /// on is charged with the octets it read after the end (a "read" finding, apart from what it
    /// then writes); the compliant server reads nothing. Issue 27: cleartext that came with the
    /// close_notify once went to the endpoint as if from inside TLS, and nothing noticed.
    func testEveryEndOfTLSWithCleartextInTheSameSegmentOrALaterOneIsReadOnlyByAFlawedServer() throws {
        let ends: [(String, String)] = [
            ("tls-close-notify: {from: client, at: after-rcpt, then-plaintext: \"NOOP\\r\\n\"}", "reads-plaintext-after-close-notify"),
            ("tls-alert: {from: client, alert: bad_record_mac, at: after-rcpt, then-plaintext: \"NOOP\\r\\n\"}", "ignores-fatal-alerts"),
            ("tls-close-notify: {from: client, at: after-rcpt, then-plaintext: \"NOOP\\r\\n\", then-close: true}", "reads-plaintext-after-close-notify"),
        ]
        for (end, flaw) in ends {
            for sameSegment in [false, true] {
                for flawed in [false, true] {
                    let text = """
                        version: 1
                        name: end of TLS
                        server: {flaws: [\(flawed ? flaw : "")]}
                        client:
                          policy: required
                          retries: {max: 1}
                          messages: [{from: alice@example.test, to: bob@example.net, body: "x"}]
                        faults:
                          - \(end)
                        \(sameSegment ? "  - coalesce: {window: 5ms}" : "")
                        expect: {findings: any}

                        """
                    let r = try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "end.yaml"), trace: .always)
                    let what = "\(end) same segment \(sameSegment) flawed \(flawed)"
                    let read = r.result.findings.filter { $0.oracle == .tlsTeardown && $0.explanation.contains("the server read 6 octets in the clear") }
                    XCTAssertEqual(read.count, flawed ? 1 : 0, "\(what): \(r.result.findings)\n\(r.result.trace.text)")
                    if !flawed { XCTAssertEqual(r.result.findings.map(\.description), [], what) }
                    // The close_notify or alert record (24 octets in TLS 1.3) and the 6 of cleartext
                    // arrive as one segment, or as two.
                    let together = r.result.trace.events.contains { e in
                        e.text.contains("c>s recv") && e.text.hasSuffix("NOOP\\r\\n") && (e.text.contains("\\x17\\x03\\x03") || e.text.contains("\\x15\\x03\\x03"))
                    }
                    XCTAssertEqual(together, sameSegment, "\(what)\n\(r.result.trace.text)")
                }
            }
        }
    }

    /// A client's message after a reset after the final dot (so it is sent twice), with `rest`
    /// (a relay, server rules) after it.
    func twice(_ rest: String) throws -> ScenarioReport {
        let text = """
            version: 1
            name: a message sent twice
            client:
              policy: required
              retries: {delay: 1m, max: 3}
              messages: [{from: alice@example.test, to: bob@example.net, body: "one"}]
            faults:
              - reset: {at: after-final-dot, connections: [1]}
            \(rest)
            expect:
              findings: any

            """
        return try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "twice.yaml"))
    }

    /// A relay that took a client's retry twice (a reset after the final dot) forwards two
    /// identical copies; the server refuses the first by rule and accepts the second. The
    /// acceptance is the second copy's: matching it to the first charged the compliant
    /// forwarder twice (found by the Simulation fuzz target once it drew relays).
    func testIdenticalCopiesAreMatchedToTheOneThatWasNotRefused() throws {
        let r = try twice("""
            relay:
              client: {policy: required, retries: {delay: 1m, max: 3}}
            server:
              rules:
                - {at: end-of-data, connections: [2], reply: "554 5.5.0 refused (by rule)"}
            """)
        XCTAssertEqual(r.result.forwarded.map(\.status), [.permanentFailure, .delivered])
        XCTAssertEqual(r.result.accepted.count, 1)
        XCTAssertFalse(r.result.findings.contains { $0.oracle == .outcomeClassification }, "\(r.result.findings)")
    }

    /// The same with a deferral: the relay forwards two identical copies, the server defers
    /// the first by rule (451 at the end of data) and accepts the second. Matched in list
    /// order, the acceptance went to the deferred copy, and the compliant forwarder was charged
    /// both with "deferred but accepted" and "delivered but never accepted" (found by the
    /// Simulation fuzz target once it drew relays and rule conditions).
    func testAnAcceptanceIsMatchedToTheCopyItsSenderSaysWasDelivered() throws {
        let r = try twice("""
            relay:
              client: {policy: required, retries: {delay: 1m, max: 1}}
            server:
              rules:
                - {at: end-of-data, connections: [2], reply: "451 4.3.0 try again later (by rule)"}
            """)
        XCTAssertEqual(r.result.forwarded.map(\.status), [.temporaryFailure, .delivered])
        XCTAssertEqual(r.result.accepted.count, 1)
        XCTAssertEqual(r.result.findings.filter { $0.oracle == .outcomeClassification }.map(\.description), [])
    }

    /// A reset after the final dot leaves the message a possible duplicate (the server may have
    /// it); when every later attempt is deferred too, the message is still one: the later
    /// deferral must not erase what the first attempt made possible, or the compliant client is
    /// charged with "deferred but accepted" (found by the Simulation fuzz target once it drew
    /// rule conditions). A later permanent refusal does not erase it either.
    func testAPossibleDuplicateStaysOneWhenLaterAttemptsFailToo() throws {
        for reply in ["451 4.3.0 try again later (by rule)", "550 5.7.1 go away (by rule)"] {
            let r = try twice("""
                server:
                  rules:
                    - {at: MAIL, connections: [2, 3], reply: "\(reply)"}
                """)
            XCTAssertEqual(r.result.accepted.count, 1, reply)
            XCTAssertEqual(r.result.outcomes.map(\.possibleDuplicate), [true], reply)
            XCTAssertEqual(r.result.findings.map(\.description), [], reply)
        }
    }
}

/// What `smtpsim probe --client` found in smtpsim's own client (issue 29): under an opportunistic
/// policy it sent its credentials to a server whose certificate did not verify (docs/catalog.md
/// H6, RFC 8314 §5.1). It must deliver without them, and a client with the flaw that ignores
/// certificate errors still sends them (and is charged).
final class CredentialsToAnUnverifiedServerTests: XCTestCase {
    func run(certificate: String, flaws: String = "[]") throws -> ScenarioReport {
        let text = """
            version: 1
            name: opportunistic client, credentials, a certificate that does not verify
            server:
              certificate: \(certificate)
              auth: {users: {alice: secret}}
            client:
              policy: opportunistic
              auth: {user: alice, password: secret}
              flaws: \(flaws)
              messages:
                - {from: alice@example.test, to: [bob@example.net], body: "x"}
            expect:
              findings: any

            """
        return try ScenarioRunner.run(try ScenarioLoader.parse(text, file: "credentials.yaml"), trace: .always)
    }

    func testAnOpportunisticClientKeepsItsCredentialsFromAnUnverifiedServer() throws {
        for certificate in ["expired", "untrusted-ca", "wrong-host", "self-signed"] {
            let r = try run(certificate: certificate)
            XCTAssertEqual(r.result.findings.map(\.description), [], certificate)
            XCTAssertFalse(r.result.trace.text.contains("AUTH PLAIN"), "\(certificate)\n\(r.result.trace.text)")
            XCTAssertTrue(r.result.trace.text.contains("did not verify; continuing without sending credentials"), certificate)
            XCTAssertEqual(r.result.outcomes.map(\.status), [.delivered], certificate)
        }
        // A valid certificate: credentials go.
        XCTAssertTrue(try run(certificate: "valid").result.trace.text.contains("AUTH PLAIN"))
        // The flaw that ignores certificate errors still sends them, and is charged.
        let flawed = try run(certificate: "expired", flaws: "[ignores-certificate-errors]")
        XCTAssertTrue(flawed.result.findings.contains { $0.description.contains("credentials") && $0.side == .client }, flawed.result.findings.map(\.description).joined(separator: "\n"))
    }
}
