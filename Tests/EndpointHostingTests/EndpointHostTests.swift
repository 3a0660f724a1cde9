import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import XCTest

/// Two hosts joined by a perfect in-memory stream: the smallest driver, which shows what the
/// host does by itself (TLS at STARTTLS, close_notify, timers by generation, stopping when the
/// driver says the connection is gone).
final class DirectDriver: EndpointHostDriver {
    var hosts: [EndpointHost] = []
    var queue: [(to: Int, bytes: [UInt8])] = []
    var timers: [(host: Int, id: TimerID, generation: UInt64)] = []
    var events: [String] = []
    var live = true
    var wire: [(from: Side, epoch: Int, bytes: [UInt8])] = []
    let contexts: (client: TLSContext, server: TLSContext)?

    init(contexts: (client: TLSContext, server: TLSContext)?) { self.contexts = contexts }

    func index(_ host: EndpointHost) -> Int { host.side == .client ? 0 : 1 }

    func run() {
        hosts[1].start()
        hosts[0].start()
        var steps = 0
        while !queue.isEmpty, steps < 10_000 {
            steps += 1
            let (to, bytes) = queue.removeFirst()
            hosts[to].receive(bytes)
        }
    }

    func isLive(_ host: EndpointHost) -> Bool { live }
    func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]? { bytes }
    func hostDidWrite(_ host: EndpointHost) {}
    func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) {
        guard !bytes.isEmpty else { return }
        wire.append((host.side, epoch, bytes))
        queue.append((1 - index(host), bytes))
    }
    func host(_ host: EndpointHost, willDeliver bytes: [UInt8]) -> Int { bytes.count }
    func hostDidDeliver(_ host: EndpointHost) {}
    func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup? {
        guard let contexts else { return nil }
        return EndpointHost.TLSSetup(context: host.side == .client ? contexts.client : contexts.server, serverName: "mx.example.test",
                                     verificationTime: CertificateFactory.defaultEpoch + 3600)
    }
    func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? { nil }
    func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64) { timers.append((index(host), id, generation)) }
    func hostPeerSentCloseNotify(_ host: EndpointHost) { events.append("\(host.side.rawValue) got close_notify"); host.peerClosed() }
    func host(_ host: EndpointHost, event: EndpointHost.Event) {
        switch event {
        case .startingTLS: events.append("\(host.side.rawValue) starting TLS")
        case .tlsEstablished: events.append("\(host.side.rawValue) TLS established")
        case .closed: events.append("\(host.side.rawValue) closed")
        case .note, .tlsSetupFailed, .tlsFailed, .recordFailed, .closing: break
        }
    }
}

final class EndpointHostTests: XCTestCase {
    static let message = OutgoingMessage(id: "m1", from: .mailbox(try! Mailbox("alice@example.test")), to: [.mailbox(try! Mailbox("bob@example.net"))],
                                         body: Array("Subject: hi\r\n\r\nhello\r\n".utf8))

    private func pair(policy: TLSPolicy, tls: Bool) throws -> (DirectDriver, BuiltInServerEndpoint, BuiltInClientEndpoint) {
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
        let driver = DirectDriver(contexts: contexts)
        let server = BuiltInServerEndpoint(configuration: serverConfiguration, connectionID: "C1")
        let client = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: clientConfiguration, messages: [Self.message]))
        driver.hosts = [EndpointHost(endpoint: client, driver: driver), EndpointHost(endpoint: server, driver: driver)]
        return (driver, server, client)
    }

    func testTheHostInsertsTLSAtSTARTTLSAndSaysGoodbyeWithCloseNotify() throws {
        let (driver, server, client) = try pair(policy: .required, tls: true)
        var accepted: [AcceptedMessage] = []
        server.onDeliver = { accepted.append($0) }
        driver.run()
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.delivered], "\(driver.events)")
        XCTAssertEqual(accepted.first?.overTLS, true)
        XCTAssertTrue(driver.hosts[0].tlsEstablished && driver.hosts[1].tlsEstablished)
        XCTAssertTrue(driver.hosts[0].peerVerified)
        // The server inserts its engine at its 220, the client at reading it; TLS 1.3 completes
        // on the client first.
        XCTAssertEqual(driver.events, ["server starting TLS", "client starting TLS", "client TLS established", "server TLS established",
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
        XCTAssertEqual(driver.hosts[0].epoch, 0)
    }

    func testAStaleTimerIsIgnoredAndTheLatestFiresOnce() throws {
        let (driver, _, client) = try pair(policy: .plaintext, tls: false)
        driver.hosts[0].start()  // the client arms its greeting timer
        driver.hosts[0].apply([.setTimer(.client(.reply), after: 1)])  // armed again: a new generation
        let armed = driver.timers.filter { $0.host == 0 }
        XCTAssertEqual(armed.count, 2)
        driver.hosts[0].timerFired(armed[0].id, generation: armed[0].generation)
        XCTAssertTrue(client.machine.outcomes.isEmpty, "the replaced timer does nothing")
        driver.hosts[0].timerFired(armed[1].id, generation: armed[1].generation)
        XCTAssertEqual(client.machine.outcomes.map(\.status), [.temporaryFailure], "the live one times the greeting out")
        driver.hosts[0].timerFired(armed[1].id, generation: armed[1].generation)
        XCTAssertEqual(client.machine.outcomes.count, 1, "and only once")
    }

    func testNothingIsCarriedOutOnceTheDriverSaysTheConnectionIsGone() throws {
        let (driver, _, _) = try pair(policy: .plaintext, tls: false)
        driver.live = false
        driver.hosts[1].start()
        XCTAssertTrue(driver.wire.isEmpty, "no greeting on a dead connection")
        driver.live = true
        XCTAssertEqual(driver.hosts[1].reset(), [])
        XCTAssertTrue(driver.hosts[1].closed)
        driver.hosts[1].receive(Array("EHLO x\r\n".utf8))
        XCTAssertTrue(driver.wire.isEmpty, "a reset host reads nothing")
    }
}
