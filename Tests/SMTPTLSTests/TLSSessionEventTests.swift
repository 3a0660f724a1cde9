import XCTest
@testable import SMTPTLS

/// The session events the `tls-*` faults perform (docs/catalog.md I), measured on the engine:
/// which fatal alerts OpenSSL 3.0 can be brought to send in each version, KeyUpdate, and
/// renegotiation with writes held while it runs.
final class TLSSessionEventTests: XCTestCase {
    var factory: CertificateFactory!

    override func setUpWithError() throws { factory = try CertificateFactory(seed: 4) }
    override func tearDown() { factory = nil }

    private func established(_ version: TLSVersion) throws -> (client: TLSConnection, server: TLSConnection) {
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.minimumVersion = version
        client.maximumVersion = version
        let c = try TLSConnection(context: TLSContext(client), serverName: "mx.example.test", verificationTime: CertificateFactory.defaultEpoch)
        let s = try TLSConnection(context: TLSContext(.server(factory.serverIdentity(hostname: "mx.example.test"))),
                                  verificationTime: CertificateFactory.defaultEpoch)
        let outcome = handshake(c, s)
        XCTAssertNotNil(outcome.clientDetails)
        XCTAssertNotNil(outcome.serverDetails)
        return (c, s)
    }

    /// Moves what `from` has written into `to` and reads it.
    private func deliver(_ from: TLSConnection, _ to: TLSConnection) -> TLSConnection.ReadStatus {
        to.receiveCiphertext(from.drainCiphertext())
        return to.readPlaintext()
    }

    func testEachAlertIsSentWhereOpenSSLCanBeBroughtToAndReachesThePeerByName() throws {
        for version in [TLSVersion.tls12, .tls13] {
            for alert in TLSSessionAlert.allCases {
                let (c, s) = try established(version)
                let sent = c.sendFatalAlert(alert)
                let expected = version == .tls13 || alert.versions == "TLS 1.2 and 1.3"
                XCTAssertEqual(sent, expected, "\(alert.rawValue) in \(version)")
                guard sent else {
                    XCTAssertEqual(c.pendingCiphertextCount, 0, "nothing leaves when the alert cannot be sent")
                    continue
                }
                guard case .failed(let failure) = deliver(c, s) else { return XCTFail("\(alert.rawValue) in \(version): the peer read on") }
                XCTAssertEqual(failure.alertReceived?.code, alert.code, "\(alert.rawValue) in \(version): \(failure)")
                XCTAssertEqual(failure.alertReceived?.name, alert.rawValue)
                XCTAssertThrowsError(try c.writePlaintext([1]), "the sender's session is over")
            }
        }
    }

    func testKeyUpdateKeepsTheSessionGoingAndIsOnlyTLS13() throws {
        for requesting in [false, true] {
            let (c, s) = try established(.tls13)
            XCTAssertTrue(c.sendKeyUpdate(requestingPeerUpdate: requesting))
            XCTAssertEqual(deliver(c, s), .needMoreData, "a KeyUpdate carries no application data")
            try s.writePlaintext(Array("250 ok\r\n".utf8))
            let reply = s.drainCiphertext()
            // The answering KeyUpdate rides ahead of the data when one was requested.
            XCTAssertGreaterThan(reply.count, requesting ? 40 : 25)
            c.receiveCiphertext(reply)
            XCTAssertEqual(c.readPlaintext(), .data(Array("250 ok\r\n".utf8)))
            try c.writePlaintext(Array("QUIT\r\n".utf8))
            XCTAssertEqual(deliver(c, s), .data(Array("QUIT\r\n".utf8)), "new keys both ways")
        }
        let (c12, _) = try established(.tls12)
        XCTAssertFalse(c12.sendKeyUpdate(requestingPeerUpdate: false))
        XCTAssertEqual(c12.pendingCiphertextCount, 0)
    }

    func testARenegotiationIsRefusedBySmtpsimsEngineAndEndsTheSessionForTheSideThatAsked() throws {
        // smtpsim's contexts refuse renegotiation (SSL_OP_NO_RENEGOTIATION, as OpenSSL 3.0
        // servers do for clients by default): the peer answers with a no_renegotiation warning
        // and OpenSSL on the side that asked gives up with handshake_failure.
        for serverAsks in [true, false] {
            let (c, s) = try established(.tls12)
            let (asker, peer) = serverAsks ? (s, c) : (c, s)
            XCTAssertTrue(asker.renegotiate(), serverAsks ? "HelloRequest" : "a new ClientHello")
            _ = deliver(asker, peer)
            guard case .failed(let failure) = deliver(peer, asker) else { return XCTFail("the side that asked went on") }
            XCTAssertEqual(failure.alertReceived?.name, "no_renegotiation")
            XCTAssertEqual(failure.alertSent?.name, "handshake_failure")
        }
        XCTAssertFalse(try established(.tls13).server.renegotiate(), "TLS 1.3 has no renegotiation")
    }

    func testACloseNotifyLeavesWhatFollowsItUnreadForTheCaller() throws {
        let (c, s) = try established(.tls13)
        c.sendCloseNotify()
        s.receiveCiphertext(c.drainCiphertext() + Array("x".utf8))
        XCTAssertEqual(s.readPlaintext(), .closed)
        XCTAssertEqual(s.takeUnreadInput(), Array("x".utf8), "the cleartext octet after close_notify (CVE-2026-45185)")
    }
}
