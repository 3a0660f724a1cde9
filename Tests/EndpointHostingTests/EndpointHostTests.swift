import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import XCTest

final class EndpointHostTests: XCTestCase {
    static let message = OutgoingMessage(id: "m1", from: .mailbox(try! Mailbox("alice@example.test")), to: [.mailbox(try! Mailbox("bob@example.net"))],
                                         body: Array("Subject: hi\r\n\r\nhello\r\n".utf8))

    /// Two hosts joined by a perfect in-memory stream (`DirectConnection`, with OpenSSL or
    /// without TLS): what the host does by itself (TLS at STARTTLS, close_notify, timers by
    /// generation, stopping when the driver says the connection is gone).
    private func pair(policy: TLSPolicy, tls: Bool) throws -> (DirectConnection, BuiltInServerEndpoint, BuiltInClientEndpoint) {
        var contexts: (client: TLSContext, server: TLSContext)?
        if tls {
            let factory = try CertificateFactory(seed: 3)
            contexts = (try TLSContext(.client(trusting: factory.trustAnchors)), try TLSContext(.server(factory.serverIdentity(hostname: "mx.example.test"))))
        }
        var serverConfiguration = ServerConfiguration()
        serverConfiguration.tlsAvailable = tls
        var clientConfiguration = ClientConfiguration()
        clientConfiguration.serverName = "mx.example.test"
        clientConfiguration.policy = policy
        let server = BuiltInServerEndpoint(configuration: serverConfiguration, connectionID: "C1")
        let client = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: clientConfiguration, messages: [Self.message]))
        let driver = DirectConnection(client: client, server: server)
        driver.tls = { host in
            contexts.map { .openSSL(context: host.side == .client ? $0.client : $0.server, serverName: "mx.example.test",
                                    verificationTime: CertificateFactory.defaultEpoch + 3600) }
        }
        return (driver, server, client)
    }

    func testTheHostInsertsTLSAtSTARTTLSAndSaysGoodbyeWithCloseNotify() throws {
        let (driver, server, client) = try pair(policy: .required, tls: true)
        var accepted: [AcceptedMessage] = []
        server.onDeliver = { accepted.append($0) }
        driver.run()
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.delivered], "\(driver.events)")
        let events = driver.events.compactMap { side, event -> String? in
            switch event {
            case .startingTLS: "\(side.rawValue) starting TLS"
            case .tlsEstablished: "\(side.rawValue) TLS established"
            case .closed: "\(side.rawValue) closed"
            case .note, .tlsSetupFailed, .tlsFailed, .recordFailed, .closing, .resumedPlaintext, .writeAfterTLSEnd: nil
            }
        }
        XCTAssertEqual(accepted.first?.overTLS, true)
        XCTAssertTrue(driver.client!.tlsEstablished && driver.server!.tlsEstablished)
        XCTAssertTrue(driver.client!.peerVerified)
        // The server inserts its engine at its 220, the client at reading it; TLS 1.3 completes
        // on the client first.
        XCTAssertEqual(events, ["server starting TLS", "client starting TLS", "client TLS established", "server TLS established",
                                       "server closed", "client closed"])
        // Each side's last record is its close_notify (a TLS 1.3 alert record: 24 octets).
        for side in [Side.client, .server] {
            let last = try XCTUnwrap(driver.wire.last { $0.from == side })
            XCTAssertEqual(last.epoch, 1)
            XCTAssertEqual(last.bytes.count, 24, "\(side)")
        }
        // Nothing in plaintext after the handshake began: every later write is a TLS record.
        let firstRecord = try XCTUnwrap(driver.wire.firstIndex { $0.epoch == 1 })
        XCTAssertTrue(driver.wire[firstRecord...].allSatisfy { $0.epoch == 1 })
        XCTAssertFalse(driver.wire.filter { $0.epoch == 0 }.contains { String(decoding: $0.bytes, as: UTF8.self).contains("MAIL FROM") })
    }

    func testWithoutTLSTheBytesPassAsTheyAre() throws {
        let (driver, _, client) = try pair(policy: .opportunistic, tls: false)
        driver.run()
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(driver.wire.allSatisfy { $0.epoch == 0 })
        XCTAssertEqual(driver.client!.epoch, 0)
    }

    func testAStaleTimerIsIgnoredAndTheLatestFiresOnce() throws {
        let (driver, _, client) = try pair(policy: .plaintext, tls: false)
        driver.client!.start()  // the client arms its greeting timer
        driver.client!.apply([.setTimer(.client(.reply), after: 1)])  // armed again: a new generation
        let armed = driver.timers.filter { $0.side == .client }
        XCTAssertEqual(armed.count, 2)
        driver.client!.timerFired(armed[0].id, generation: armed[0].generation)
        XCTAssertTrue(client.machine.outcomes.isEmpty, "the replaced timer does nothing")
        driver.client!.timerFired(armed[1].id, generation: armed[1].generation)
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.temporaryFailure], "the live one times the greeting out")
        driver.client!.timerFired(armed[1].id, generation: armed[1].generation)
        XCTAssertEqual(client.machine.outcomes.count, 1, "and only once")
    }

    func testNothingIsCarriedOutOnceTheDriverSaysTheConnectionIsGone() throws {
        let (driver, _, _) = try pair(policy: .plaintext, tls: false)
        driver.isOpen = false
        driver.server!.start()
        XCTAssertTrue(driver.wire.isEmpty, "no greeting on a dead connection")
        driver.isOpen = true
        XCTAssertEqual(driver.server!.reset(), [])
        XCTAssertTrue(driver.server!.closed)
        driver.server!.receive(Array("EHLO x\r\n".utf8))
        XCTAssertTrue(driver.wire.isEmpty, "a reset host reads nothing")
    }

    // MARK: - The pass-through engine

    func testPassThroughTLSGoesThroughTheHostsTLSPath() throws {
        let server = BuiltInServerEndpoint(configuration: ServerConfiguration(), connectionID: "C1")
        var configuration = ClientConfiguration()
        configuration.policy = .required
        let client = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: configuration, messages: [Self.message]))
        var accepted: [AcceptedMessage] = []
        server.onDeliver = { accepted.append($0) }
        let connection = DirectConnection(client: client, server: server)
        connection.run()
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(accepted.first?.overTLS, true)
        XCTAssertTrue(connection.client!.tlsEstablished && connection.server!.tlsEstablished)
        // The hellos are the only handshake bytes; after them, the writes cross as they are.
        let tls = connection.wire.filter { $0.epoch == 1 }
        XCTAssertEqual(tls.first?.bytes, PassThroughTLS.clientHello)
        XCTAssertEqual(tls.dropFirst().first?.bytes, PassThroughTLS.serverHello)
        XCTAssertTrue(tls.contains { String(decoding: $0.bytes, as: UTF8.self).hasPrefix("MAIL FROM:<alice@example.test>") })
    }

    func testPassThroughTLSIsStrictAboutTheHello() {
        let server = PassThroughTLS(side: .server)
        server.receiveCiphertext(Array(PassThroughTLS.clientHello.prefix(5)))
        XCTAssertEqual(server.advanceHandshake(), .needMoreData, "a hello cut short waits for the rest")
        server.receiveCiphertext(Array(PassThroughTLS.clientHello.dropFirst(5)) + Array("EHLO".utf8))
        XCTAssertEqual(server.advanceHandshake(), .complete(PassThroughTLS.details))
        XCTAssertEqual(server.drainCiphertext(), PassThroughTLS.serverHello)
        XCTAssertEqual(server.readPlaintext(), .data(Array("EHLO".utf8)), "what came behind the hello is application data")

        let strict = PassThroughTLS(side: .server)
        strict.receiveCiphertext(Array("RSET\r\n".utf8))
        guard case .failed(let failure) = strict.advanceHandshake() else { return XCTFail("plaintext where the hello belongs") }
        XCTAssertEqual(failure.kind, .malformedRecord)
        XCTAssertThrowsError(try strict.writePlaintext([1]))
    }
}
