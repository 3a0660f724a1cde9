import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import XCTest

@testable import SMTPNet

/// `serve` and `send` against each other over real loopback TCP with real STARTTLS.
final class ServeSendTests: XCTestCase {
    func testRequiredTLSDeliveryWritesEmlAndEnvelope() async throws {
        var server = Loopback.server(credentials: ["alice": "secret"])
        let dir = Loopback.temporaryDirectory()
        server.maildir = try MaildirWriter(directory: dir)
        server.maximumConnections = 1
        let (report, _) = try await Loopback.with(server) { port in
            let client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors),
                                         credentials: Credentials(username: "alice", password: "secret"))
            return try await client.deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(report.outcomes[0].overTLS)
        XCTAssertEqual(report.tls?.peerVerified, true)
        XCTAssertEqual(report.capabilitiesBeforeTLS?.startTLS, true)
        XCTAssertFalse(report.capabilities.startTLS, "STARTTLS must not be offered inside TLS")
        XCTAssertEqual(report.capabilities.authMechanisms, ["PLAIN", "LOGIN"])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files.count, 2, "\(files)")
        let eml = try XCTUnwrap(files.first { $0.hasSuffix(".eml") })
        let body = try String(contentsOfFile: dir + "/" + eml, encoding: .utf8)
        XCTAssertEqual(body, "Subject: hello\r\n\r\nHello over a real socket.\r\n.leading dot\r\n", "dot-stuffing round trip over TCP")
        let json = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + eml.replacingOccurrences(of: ".eml", with: ".json")))
        let envelope = try JSONDecoder().decode(MaildirWriter.Envelope.self, from: json)
        XCTAssertEqual(envelope.mailFrom, "<alice@example.test>")
        XCTAssertEqual(envelope.rcptTo, ["<bob@example.net>"])
        XCTAssertTrue(envelope.overTLS)
        XCTAssertEqual(envelope.authenticatedAs, "alice")
        XCTAssertNotNil(envelope.tls)
    }

    func testRequiredPolicyDefersOnUntrustedCertificate() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        let (report, _) = try await Loopback.with(server) { port in
            // The client trusts another CA than the server's.
            let other = try CertificateFactory(seed: 99)
            return try await Loopback.client(port: port, policy: .required, trust: .anchors(other.trustAnchors)).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(report.outcomes[0].tlsResultType, .certificateNotTrusted)
    }

    func testAWrongPinIsAPinnedCertificateMismatchAsInTheSimulator() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        let (report, _) = try await Loopback.with(server) { port in
            // Pinned: a certificate the server does not present (another factory's).
            let other = try CertificateFactory(seed: 99).serverIdentity(hostname: "localhost", variant: .valid).chain[0]
            return try await Loopback.client(port: port, policy: .pinned, trust: .pinned(other)).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(report.outcomes[0].reason.contains("pinned-certificate-mismatch"), report.outcomes[0].reason)
        XCTAssertEqual(report.outcomes[0].tlsResultType, .certificateNotTrusted, "RFC 8460 §4.3.2")
    }

    func testServerWithoutTLSDefersRequiredAndDeliversOpportunistic() async throws {
        var server = Loopback.server(tls: false)
        server.maximumConnections = 2
        let ((required, opportunistic), _) = try await Loopback.with(server) { port in
            let a = try await Loopback.client(port: port, policy: .required, trust: .none).deliver([Loopback.message()]) { _ in }
            let b = try await Loopback.client(port: port, policy: .opportunistic, trust: .none).deliver([Loopback.message()]) { _ in }
            return (a, b)
        }
        XCTAssertEqual(required.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(opportunistic.outcomes.map(\.status), [.delivered])
        XCTAssertFalse(opportunistic.outcomes[0].overTLS)
    }

    func testResetAfterTheFinalDotLeavesAPossibleDuplicate() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        server.faultRules = [FaultRule(.reset, at: .phase(.afterFinalDot))]
        let (report, log) = try await Loopback.with(server) { port in
            try await Loopback.client(port: port, policy: .opportunistic, trust: .none).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(report.outcomes[0].possibleDuplicate, "\(report.outcomes[0])")
        XCTAssertTrue(log.contains { $0.contains("fault: reset") }, "\(log)")
    }

    func testAFaultOnConnectionOneSparesConnectionTwo() async throws {
        var server = Loopback.server()
        server.maximumConnections = 2
        server.faultRules = [FaultRule(.reset, at: .phase(.afterMAIL), connections: [1])]
        let ((first, second), _) = try await Loopback.with(server) { port in
            let client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
            let a = try await client.deliver([Loopback.message()]) { _ in }
            let b = try await client.deliver([Loopback.message()]) { _ in }
            return (a, b)
        }
        XCTAssertEqual(first.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(first.end, .failed("connection reset by the peer"), "a TCP RST, not a FIN")
        XCTAssertEqual(second.outcomes.map(\.status), [.delivered])
    }

    func testResetInTheHandshakeFailsTLS() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        server.faultRules = [FaultRule(.reset, at: .phase(.midHandshake))]
        let (report, _) = try await Loopback.with(server) { port in
            try await Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors)).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(report.tls, nil)
    }

    func testOneOctetSegmentsBothWaysStillDeliver() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        server.faultRules = [FaultRule(.split(maxSegment: 1))]
        let (report, _) = try await Loopback.with(server) { port in
            var client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
            client.faults = try StreamFaults(rules: [FaultRule(.split(maxSegment: 1))], side: .client)
            return try await client.deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
    }

    func testAFloodWithoutLineEndsIsAnsweredAndBounded() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        let (replies, log) = try await Loopback.with(server) { port in
            try await ScriptedConnection.with(HostPort(host: "127.0.0.1", port: port), timeout: 10) { c -> [Int] in
                _ = try await c.reply()
                // 3 MiB without a line end (RFC 5321 §4.5.3.1.4 allows 512 octets), then NOOP.
                let chunk = [UInt8](repeating: 0x78, count: 64 * 1024)
                for _ in 0..<48 { try await c.send(chunk) }
                try await c.send("\r\nNOOP\r\n")
                var codes: [Int] = []
                while codes.count < 2, let r = try await c.reply() { codes.append(r.n) }
                return codes
            }
        }
        XCTAssertEqual(replies, [500, 250], "the long line is refused once, and the session goes on: \(log.suffix(8))")
    }

    func testAFourMebibyteMessageGoesThroughTheBoundedQueue() async throws {
        var server = Loopback.server()
        let dir = Loopback.temporaryDirectory()
        server.maildir = try MaildirWriter(directory: dir)
        server.maximumConnections = 1
        let line = String(repeating: "0123456789abcdef", count: 4) + "\r\n"  // 66 octets
        let body = "Subject: big\r\n\r\n" + String(repeating: line, count: 4 * 1024 * 1024 / 66)
        let (report, _) = try await Loopback.with(server) { port in
            try await Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors)).deliver([Loopback.message(body)]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered], "more than the 1 MiB queue limit, delivered with back-pressure")
        let eml = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".eml") })
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + eml)).count, body.utf8.count)
    }

    // MARK: - TLS session faults on a real socket (docs/catalog.md I)

    private func deliver(serverFaults: [FaultRule] = [], clientFaults: [FaultRule] = [], flaws: Set<ServerFlaw> = [])
        async throws -> (NetClient.Report, [String], [String]) {
        var server = Loopback.server(flaws: flaws)
        let dir = Loopback.temporaryDirectory()
        server.maildir = try MaildirWriter(directory: dir)
        server.maximumConnections = 1
        server.faultRules = serverFaults
        let (report, log) = try await Loopback.with(server) { port in
            var client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
            client.faults = try StreamFaults(rules: clientFaults, side: .client)
            return try await client.deliver([Loopback.message()]) { _ in }
        }
        let stored = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".eml") }
        return (report, log, stored)
    }

    func testServeSendsCloseNotifyAtAPhaseAndTheClientDefers() async throws {
        let (report, log, _) = try await deliver(serverFaults: [
            FaultRule(.tlsCloseNotify(from: .server, then: TLSAftermath(plaintext: "250 2.0.0 fake\r\n")), at: .phase(.afterRCPT)),
        ])
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure], "the cleartext 250 after close_notify is not a reply: \(log.suffix(6))")
        XCTAssertTrue(log.contains { $0.contains("close_notify after") }, "\(log)")
    }

    func testSendSendsCloseNotifyMidBodyAndACompliantServeStoresNothing() async throws {
        let (report, _, stored) = try await deliver(clientFaults: [
            FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath(plaintext: "\r\n.\r\n")), at: .phase(.midBody)),
        ])
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(stored, [], "no message from data cut by a teardown")
    }

    func testAFlawedServeReadsTheCleartextAfterCloseNotify() async throws {
        let (_, _, stored) = try await deliver(clientFaults: [
            FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath(plaintext: "\r\n.\r\n")), at: .phase(.midBody)),
        ], flaws: [.readsPlaintextAfterCloseNotify])
        XCTAssertEqual(stored.count, 1, "Dead.Letter: the cleartext ended the data and the cut message was stored")
    }

    func testKeyUpdatesAndOneOctetRecordsDeliverOverASocket() async throws {
        let (report, log, stored) = try await deliver(
            serverFaults: [FaultRule(.tlsKeyUpdate(from: .server, requestUpdate: true), at: .phase(.afterMAIL)), FaultRule(.tlsRecordSize(from: .server, octets: 1))],
            clientFaults: [FaultRule(.tlsKeyUpdate(from: .client, requestUpdate: false), at: .phase(.afterRCPT)), FaultRule(.tlsRecordSize(from: nil, octets: 3))])
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered], "\(log.suffix(10))")
        XCTAssertEqual(stored.count, 1)
        XCTAssertTrue(log.contains { $0.contains("KeyUpdate (update_requested)") }, "\(log)")
    }

    func testAnAlertFromServeAndCleartextFromSendEndTheSessionWithoutAMessage() async throws {
        let (alerted, alertLog, none) = try await deliver(serverFaults: [
            FaultRule(.tlsAlert(from: .server, .badRecordMAC, then: TLSAftermath(plaintext: "250 2.0.0 fake\r\n")), at: .phase(.afterRCPT)),
        ])
        XCTAssertEqual(alerted.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(alertLog.contains { $0.contains("fatal alert bad_record_mac after") }, "\(alertLog)")
        XCTAssertEqual(none, [])
        let (injected, injectedLog, stored) = try await deliver(clientFaults: [
            FaultRule(.plaintextAfterTLS(from: .client, bytes: "RSET\r\n"), at: .phase(.afterMAIL)),
        ])
        XCTAssertEqual(injected.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(injectedLog.contains { $0.contains("record layer failed") }, "the server's TLS rejected it: \(injectedLog.suffix(6))")
        XCTAssertFalse(injectedLog.contains { $0.contains("command RSET") })
        XCTAssertEqual(stored, [])
    }

    func testARenegotiationInTLS13IsNotedAndNothingElseHappens() async throws {
        let (report, log, stored) = try await deliver(serverFaults: [FaultRule(.tlsRenegotiate(from: .server), at: .phase(.afterMAIL))])
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(stored.count, 1)
        XCTAssertTrue(log.contains { $0.contains("renegotiation after") && $0.contains("cannot do this") }, "\(log)")
    }

    func testTLSFaultsFromTheOtherSideAreRefusedOnASocket() {
        XCTAssertThrowsError(try StreamFaults(rules: [FaultRule(.tlsBadRecord(from: .server), at: .phase(.midBody))], side: .server)) { error in
            XCTAssertTrue("\(error)".contains("simulation-only"), "\(error)")
        }
        XCTAssertThrowsError(try StreamFaults(rules: [FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath()), at: .phase(.midBody))], side: .server)) { error in
            XCTAssertTrue("\(error)".contains("from its own (from: server)"), "\(error)")
        }
    }

    func testSimulationOnlyFaultsAreRefusedByName() {
        XCTAssertThrowsError(try StreamFaults(rules: [FaultRule(.corrupt(Ratio(1, 2)))], side: .server)) { error in
            XCTAssertTrue("\(error)".contains("simulation-only"), "\(error)")
        }
    }

    func testConnectionRefusedIsOneLine() async throws {
        // Bind and close a listener to find a port nobody listens on.
        let listener = try await Sockets.listen(HostPort(host: "127.0.0.1", port: 0))
        let port = Sockets.port(of: listener)
        try await listener.channel.close()
        do {
            _ = try await Sockets.connect(HostPort(host: "127.0.0.1", port: port), timeout: 2)
            XCTFail("connected to a closed port")
        } catch {
            XCTAssertEqual(error, .connectionRefused(HostPort(host: "127.0.0.1", port: port)))
            XCTAssertEqual(error.description, "connection to 127.0.0.1:\(port) refused")
        }
    }

    func testHostPortParsing() throws {
        XCTAssertEqual(try HostPort(parsing: ":2525"), HostPort(host: "127.0.0.1", port: 2525))
        XCTAssertEqual(try HostPort(parsing: "mx.example.net:25"), HostPort(host: "mx.example.net", port: 25))
        XCTAssertEqual(try HostPort(parsing: "[::1]:587"), HostPort(host: "::1", port: 587))
        XCTAssertEqual(try HostPort(parsing: "mail.example", defaultPort: 25), HostPort(host: "mail.example", port: 25))
        XCTAssertThrowsError(try HostPort(parsing: "host:99999"))
        XCTAssertThrowsError(try HostPort(parsing: "host"))
        XCTAssertEqual(HostPort(host: "::1", port: 25).description, "[::1]:25")
    }
}

/// Server rules on a real socket (issue 15): the same machine, so the same answers.
final class ServeRuleTests: XCTestCase {
    func testRulesRefuseARecipientAndDeferAMessageOverLoopback() async throws {
        var server = Loopback.server()
        server.configuration.rules = [
            ServerRule(on: .verb("RCPT"), pattern: TextPattern("RCPT TO:<*@blocked.test>"), reply: RuleReply(text: "550 5.7.1 blocked by rule")),
            ServerRule(on: .endOfData, condition: RuleCondition(nth: 2), reply: RuleReply(text: "451 4.3.0 deferred by rule")),
        ]
        server.maximumConnections = 1
        let (report, _) = try await Loopback.with(server) { port in
            var blocked = Loopback.message()
            blocked.recipients.append(.mailbox(try Mailbox("eve@blocked.test")))
            var second = Loopback.message()
            second.id = "m2"
            return try await Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
                .deliver([blocked, second]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered, .temporaryFailure])
        XCTAssertEqual(report.outcomes[0].refusedRecipients.map(\.description), ["<eve@blocked.test>"])
        XCTAssertEqual(report.outcomes[1].reply?.lines.first?.text, "deferred by rule")
    }

    func testSendReportsEachRecipientAndA451OneIsNotDelivered() async throws {
        // RFC 5321 §4.2.5 over a real socket: the server defers one recipient, refuses another;
        // `send` reports the message deferred (not delivered) with each recipient's outcome.
        var server = Loopback.server()
        server.configuration.rules = [
            ServerRule(on: .verb("RCPT"), pattern: TextPattern("RCPT TO:<carol@*"), reply: RuleReply(text: "451 4.3.0 try later")),
            ServerRule(on: .verb("RCPT"), pattern: TextPattern("RCPT TO:<dave@*"), reply: RuleReply(text: "550 5.1.1 no such user")),
        ]
        let (report, _) = try await Loopback.with(server) { port in
            var message = Loopback.message()
            message.recipients += [.mailbox(try Mailbox("carol@example.net")), .mailbox(try Mailbox("dave@example.net"))]
            return try await Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
                .deliver([message]) { _ in }
        }
        let o = try XCTUnwrap(report.outcomes.first)
        XCTAssertEqual(o.status, .temporaryFailure)
        XCTAssertEqual(o.recipients.map(\.description), [
            "\(Loopback.message().recipients[0]): delivered (250 2.0.0 OK: queued as C1.1)",
            "<carol@example.net>: temporary-failure (451 4.3.0 try later)", "<dave@example.net>: permanent-failure (550 5.1.1 no such user)",
        ])
    }

    func testAPlaintextRetryAfterATLSFailureIsAChoiceOfTheOpportunisticPolicy() async throws {
        // A server that says 220 to STARTTLS and never starts TLS: the client's handshake fails.
        for retry in [false, true] {
            var server = Loopback.server()
            server.configuration.rules = [ServerRule(on: .verb("STARTTLS"), reply: RuleReply(text: "220 2.0.0 go ahead"), act: false)]
            server.maximumConnections = retry ? 2 : 1
            let (report, _) = try await Loopback.with(server) { port in
                var client = Loopback.client(port: port, policy: .opportunistic, trust: .none)
                client.configuration.plaintextRetryAfterTLSFailure = retry
                return try await client.deliver([Loopback.message()]) { _ in }
            }
            XCTAssertEqual(report.attempts, retry ? 2 : 1)
            XCTAssertEqual(report.outcomes.map(\.status), [retry ? .delivered : .temporaryFailure], "\(report.outcomes)")
            XCTAssertFalse(report.outcomes[0].overTLS)
        }
    }
}
