import XCTest
@testable import SMTPTLS

final class TLSEngineTests: XCTestCase {
    static let now = CertificateFactory.defaultEpoch
    static let host = "mx.example.test"

    var factory: CertificateFactory!

    override func setUpWithError() throws {
        factory = try CertificateFactory(seed: 1)
    }

    override func tearDown() {
        factory = nil  // XCTest keeps test case instances alive; do not hold OpenSSL objects past the test
    }

    private func pair(
        server serverConfig: TLSConfiguration, client clientConfig: TLSConfiguration, name: String? = host, time: Int64 = now
    ) throws -> (TLSConnection, TLSConnection) {
        let client = try TLSConnection(context: TLSContext(clientConfig), serverName: name, verificationTime: time)
        let server = try TLSConnection(context: TLSContext(serverConfig), verificationTime: time)
        return (client, server)
    }

    private func serverConfig(_ variant: CertificateFactory.Variant = .valid, factory: CertificateFactory? = nil) throws -> TLSConfiguration {
        TLSConfiguration.server(try (factory ?? self.factory).serverIdentity(hostname: Self.host, variant: variant))
    }

    func testHandshakeMatrix() throws {
        for keyType in [CertificateFactory.KeyType.p256, .rsa2048] {
            let f = try CertificateFactory(seed: 2, keyType: keyType)
            for version in [TLSVersion.tls12, .tls13] {
                var client = TLSConfiguration.client(trusting: f.trustAnchors)
                client.minimumVersion = version
                client.maximumVersion = version
                let (c, s) = try pair(server: serverConfig(factory: f), client: client)
                let outcome = handshake(c, s)
                let details = try XCTUnwrap(outcome.clientDetails, "\(keyType) \(version): \(String(describing: outcome.clientFailure)) / \(String(describing: outcome.serverFailure))")
                XCTAssertEqual(details.version, version.rawValue)
                XCTAssertTrue(details.peerVerified)
                XCTAssertEqual(details.peerCertificates.first?.dnsNames, [Self.host])
                XCTAssertEqual(details.peerCertificates.first?.keyBits, keyType == .p256 ? 256 : 2048)
                XCTAssertEqual(details.group, "x25519")
                XCTAssertEqual(outcome.serverDetails?.serverName, Self.host)
                let (toServer, toClient) = try exchange(c, s, clientSends: Array("EHLO c\r\n".utf8), serverSends: Array("250 ok\r\n".utf8))
                XCTAssertEqual(toServer, Array("EHLO c\r\n".utf8))
                XCTAssertEqual(toClient, Array("250 ok\r\n".utf8))
            }
        }
    }

    func testP256KeyExchangeGroup() throws {
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.groups = ["P-256"]
        let (c, s) = try pair(server: serverConfig(), client: client)
        XCTAssertEqual(handshake(c, s).clientDetails?.group, "secp256r1")
    }

    func testDeliveryByteByByteAndInRandomSplits() throws {
        for delivery in [Delivery.byteByByte, .randomSplits(1), .randomSplits(2)] {
            let (c, s) = try pair(server: serverConfig(), client: .client(trusting: factory.trustAnchors))
            let outcome = handshake(c, s, delivery: delivery)
            XCTAssertNotNil(outcome.clientDetails, "\(delivery)")
            XCTAssertNotNil(outcome.serverDetails, "\(delivery)")
        }
    }

    /// Every certificate failure as the client sees it, and the alert the server then sees.
    func testCertificateFailureClassesFromBothSides() throws {
        let cases: [(CertificateFactory.Variant, TLSFailure.Kind)] = [
            (.expired, .certificateExpired),
            (.notYetValid, .certificateNotYetValid),
            (.wrongHost, .certificateHostMismatch),
            (.selfSigned, .certificateNotTrusted),
            (.untrustedCA, .certificateNotTrusted),
            (.missingIntermediate, .certificateNotTrusted),
        ]
        for (variant, kind) in cases {
            let (c, s) = try pair(server: serverConfig(variant), client: .client(trusting: factory.trustAnchors))
            let outcome = handshake(c, s)
            let failure = try XCTUnwrap(outcome.clientFailure, variant.rawValue)
            XCTAssertEqual(failure.kind, kind, "\(variant): \(failure)")
            XCTAssertNotNil(failure.verifyResult)
            XCTAssertNotNil(failure.alertSent, variant.rawValue)
            let serverFailure = try XCTUnwrap(outcome.serverFailure, variant.rawValue)
            XCTAssertEqual(serverFailure.kind, .peerAlert, "\(variant): \(serverFailure)")
            XCTAssertEqual(serverFailure.alertReceived, failure.alertSent)
        }
    }

    func testWeakKeyIsRefusedAtSecurityLevelTwo() throws {
        var server = try serverConfig(.weakKey)
        server.securityLevel = 0
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.securityLevel = 2
        let (c, s) = try pair(server: server, client: client)
        let outcome = handshake(c, s)
        XCTAssertEqual(outcome.clientFailure?.kind, .weakKey, String(describing: outcome.clientFailure))
        // And a server at level 2 cannot even load it.
        XCTAssertThrowsError(try TLSContext(serverConfig(.weakKey)))
    }

    func testUnenforcedVerificationRecordsTheErrorAndCompletes() throws {
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.enforceVerification = false
        let (c, s) = try pair(server: serverConfig(.selfSigned), client: client)
        let details = try XCTUnwrap(handshake(c, s).clientDetails)
        XCTAssertFalse(details.peerVerified)
        XCTAssertEqual(details.verifyResult, 18)  // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    }

    func testPinnedCertificate() throws {
        let identity = try factory.serverIdentity(hostname: Self.host, variant: .selfSigned)
        var client = TLSConfiguration(role: .client)
        client.trust = .pinned(identity.leaf)
        let (c, s) = try pair(server: .server(identity), client: client)
        XCTAssertNotNil(handshake(c, s).clientDetails)
        // A different certificate fails, even one that chains to a trusted root.
        let (c2, s2) = try pair(server: serverConfig(.valid), client: client)
        let outcome = handshake(c2, s2)
        XCTAssertEqual(outcome.clientFailure?.kind, .pinnedCertificateMismatch)
        XCTAssertEqual(outcome.serverFailure?.kind, .peerAlert)
    }

    func testClientCertificates() throws {
        var server = try serverConfig()
        server.clientAuthentication = .require
        server.trust = .anchors(factory.trustAnchors)
        // Presented and trusted.
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.identity = try factory.clientIdentity(name: "client.example.test")
        var (c, s) = try pair(server: server, client: client)
        var outcome = handshake(c, s)
        XCTAssertEqual(outcome.serverDetails?.peerCertificates.first?.subject, "CN=client.example.test")
        XCTAssertEqual(outcome.serverDetails?.peerVerified, true)
        // Missing.
        (c, s) = try pair(server: server, client: .client(trusting: factory.trustAnchors))
        outcome = handshake(c, s)
        XCTAssertEqual(outcome.serverFailure?.kind, .clientCertificateRequired)
        XCTAssertEqual(try clientFailureAfterHandshake(c, s, outcome)?.kind, .clientCertificateRequired)
        // Untrusted.
        client.identity = try factory.clientIdentity(name: "client.example.test", trusted: false)
        (c, s) = try pair(server: server, client: client)
        outcome = handshake(c, s)
        XCTAssertEqual(outcome.serverFailure?.kind, .clientCertificateRejected, String(describing: outcome.serverFailure))
        XCTAssertEqual(try clientFailureAfterHandshake(c, s, outcome)?.kind, .clientCertificateRejected)
        // Requested but optional: absent is fine.
        server.clientAuthentication = .request
        (c, s) = try pair(server: server, client: .client(trusting: factory.trustAnchors))
        outcome = handshake(c, s)
        XCTAssertNotNil(outcome.serverDetails)
        XCTAssertEqual(outcome.serverDetails?.peerCertificates.count, 0)
    }

    /// In TLS 1.3 the client finishes before the server judges its certificate; the refusal
    /// arrives as an alert on the first read.
    private func clientFailureAfterHandshake(_ c: TLSConnection, _ s: TLSConnection, _ outcome: HandshakeOutcome) throws -> TLSFailure? {
        if let f = outcome.clientFailure { return f }
        c.receiveCiphertext(s.drainCiphertext())
        if case .failed(let f) = c.readPlaintext() { return f }
        return nil
    }

    func testProtocolVersionMismatch() throws {
        var server = try serverConfig()
        server.minimumVersion = .tls13
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.maximumVersion = .tls12
        let (c, s) = try pair(server: server, client: client)
        let outcome = handshake(c, s)
        XCTAssertEqual(outcome.serverFailure?.kind, .protocolVersionMismatch, String(describing: outcome.serverFailure))
        XCTAssertEqual(outcome.clientFailure?.kind, .protocolVersionMismatch, String(describing: outcome.clientFailure))
    }

    func testNoSharedCipher() throws {
        var server = try serverConfig()
        server.maximumVersion = .tls12
        server.cipherList = "ECDHE-ECDSA-AES256-GCM-SHA384"
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.maximumVersion = .tls12
        client.cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256"
        let (c, s) = try pair(server: server, client: client)
        let outcome = handshake(c, s)
        XCTAssertEqual(outcome.serverFailure?.kind, .noSharedCipher, String(describing: outcome.serverFailure))
        XCTAssertEqual(outcome.clientFailure?.kind, .peerAlert)
        XCTAssertEqual(outcome.clientFailure?.alertReceived?.name, "handshake_failure")
    }

    func testGarbageInsteadOfTLSIsAMalformedRecord() throws {
        // docs/catalog.md B4: a bogus 220 followed by plaintext where the ServerHello should be.
        let client = try TLSConnection(context: TLSContext(.client(trusting: factory.trustAnchors)), serverName: Self.host, verificationTime: Self.now)
        _ = client.advanceHandshake()
        XCTAssertGreaterThan(client.drainCiphertext().count, 100)  // the ClientHello
        client.receiveCiphertext(Array("250-mx.example.test\r\n250 PIPELINING\r\n".utf8))
        guard case .failed(let f) = client.advanceHandshake() else { return XCTFail() }
        XCTAssertEqual(f.kind, .malformedRecord, f.description)
        // And a server fed plaintext SMTP instead of a ClientHello.
        let server = try TLSConnection(context: TLSContext(serverConfig()), verificationTime: Self.now)
        server.receiveCiphertext(Array("RSET\r\nMAIL FROM:<a@b.test>\r\n".utf8))
        guard case .failed(let g) = server.advanceHandshake() else { return XCTFail() }
        XCTAssertEqual(g.kind, .malformedRecord, g.description)
    }

    func testTruncatedHandshakeWaitsAndNeverHangs() throws {
        let (c, s) = try pair(server: serverConfig(), client: .client(trusting: factory.trustAnchors))
        _ = c.advanceHandshake()
        let hello = c.drainCiphertext()
        s.receiveCiphertext(hello.prefix(hello.count / 2))
        XCTAssertEqual(s.advanceHandshake(), .needMoreData)
        XCTAssertEqual(s.pendingCiphertextCount, 0)
    }

    func testRandomGarbageNeverCrashes() throws {
        var rng = SplitMix64(seed: 3)
        for i in 0..<100 {
            let server = try TLSConnection(context: TLSContext(serverConfig()), verificationTime: Self.now)
            var bytes = (0..<Int.random(in: 1...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 2 == 0 { bytes.replaceSubrange(0..<min(3, bytes.count), with: [0x16, 0x03, 0x01].prefix(bytes.count)) }
            server.receiveCiphertext(bytes)
            switch server.advanceHandshake() {
            case .needMoreData, .failed: break
            case .complete: XCTFail("garbage completed a handshake")
            }
        }
    }

    func testCloseNotify() throws {
        let (c, s) = try pair(server: serverConfig(), client: .client(trusting: factory.trustAnchors))
        XCTAssertNotNil(handshake(c, s).clientDetails)
        try c.writePlaintext(Array("QUIT\r\n".utf8))
        c.sendCloseNotify()
        s.receiveCiphertext(c.drainCiphertext())
        XCTAssertEqual(s.readPlaintext(), .data(Array("QUIT\r\n".utf8)))
        XCTAssertEqual(s.readPlaintext(), .closed)
        XCTAssertTrue(s.receivedCloseNotify)
    }

    func testKeyLogLines() throws {
        var client = TLSConfiguration.client(trusting: factory.trustAnchors)
        client.keyLog = true
        let (c, s) = try pair(server: serverConfig(), client: client)
        XCTAssertNotNil(handshake(c, s).clientDetails)
        let labels = Set(c.keyLogLines.map { String($0.split(separator: " ")[0]) })
        XCTAssertEqual(labels, ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"])
        XCTAssertTrue(s.keyLogLines.isEmpty)
    }

    func testCheapProfiles() throws {
        for mode in [PreSharedKey.Mode.tls13, .tls12] {
            let psk = PreSharedKey.derived(seed: 9, mode: mode)
            let (c, s) = try pair(server: .cheap(role: .server, psk: psk), client: .cheap(role: .client, psk: psk))
            let outcome = handshake(c, s)
            let details = try XCTUnwrap(outcome.clientDetails, "\(mode): \(String(describing: outcome.clientFailure)) \(String(describing: outcome.serverFailure))")
            XCTAssertEqual(details.version, mode == .tls13 ? "TLSv1.3" : "TLSv1.2")
            XCTAssertTrue(details.usedPreSharedKey)
            XCTAssertTrue(details.peerCertificates.isEmpty)
            let (toServer, _) = try exchange(c, s, clientSends: [1, 2, 3], serverSends: [4])
            XCTAssertEqual(toServer, [1, 2, 3])
            // A different key fails.
            let other = PreSharedKey.derived(seed: 10, mode: mode)
            let (c2, s2) = try pair(server: .cheap(role: .server, psk: psk), client: .cheap(role: .client, psk: other))
            let bad = handshake(c2, s2)
            XCTAssertNil(bad.clientDetails.flatMap { _ in bad.serverDetails }, "\(mode)")
        }
    }
}
