import XCTest
@testable import SMTPTLS

/// Same seed → byte-identical certificates and handshake bytes; different seed → different.
/// (Across processes: `smtpsimTests.CLITests.testTLSHandshakeIsDeterministicAcrossProcesses`.)
final class DeterminismTests: XCTestCase {
    static func run(seed: UInt64, version: TLSVersion = .tls13, cheap: Bool = false, delivery: Delivery = .whole) throws -> (transcript: [UInt8], certificate: [UInt8]) {
        try DeterministicRandom.with(seed: seed) {
            let factory = try CertificateFactory(seed: seed)
            let identity = try factory.serverIdentity(hostname: "mx.example.test")
            var client = TLSConfiguration.client(trusting: factory.trustAnchors)
            var server = TLSConfiguration.server(identity)
            if cheap {
                let psk = PreSharedKey.derived(seed: seed)
                client = .cheap(role: .client, psk: psk)
                server = .cheap(role: .server, psk: psk)
            }
            client.maximumVersion = cheap ? .tls13 : version
            client.minimumVersion = cheap ? .tls13 : version
            let c = try TLSConnection(context: TLSContext(client), serverName: "mx.example.test", verificationTime: factory.epoch)
            let s = try TLSConnection(context: TLSContext(server), verificationTime: factory.epoch)
            var outcome = handshake(c, s, delivery: delivery)
            XCTAssertNotNil(outcome.clientDetails)
            _ = try exchange(c, s, clientSends: Array("MAIL FROM:<a@x.test>\r\n".utf8), serverSends: Array("250 ok\r\n".utf8))
            // Record bytes after the handshake too.
            try c.writePlaintext(Array("QUIT\r\n".utf8))
            outcome.transcript.append(("c>s", c.drainCiphertext()))
            return (outcome.transcriptBytes, identity.leaf.der)
        }
    }

    func testSameSeedSameBytes() throws {
        for version in [TLSVersion.tls12, .tls13] {
            let a = try Self.run(seed: 42, version: version)
            let b = try Self.run(seed: 42, version: version)
            XCTAssertEqual(a.certificate, b.certificate, "\(version)")
            XCTAssertEqual(a.transcript, b.transcript, "\(version)")
            XCTAssertGreaterThan(a.transcript.count, 1000)
        }
        XCTAssertEqual(try Self.run(seed: 5, cheap: true).transcript, try Self.run(seed: 5, cheap: true).transcript)
    }

    func testDifferentSeedsDiffer() throws {
        let a = try Self.run(seed: 1)
        let b = try Self.run(seed: 2)
        XCTAssertNotEqual(a.certificate, b.certificate)
        XCTAssertNotEqual(a.transcript, b.transcript)
    }

    func testSegmentationDoesNotChangeTheBytes() throws {
        // The bytes on the wire do not depend on how they were delivered.
        let whole = try Self.run(seed: 7)
        let split = try Self.run(seed: 7, delivery: .randomSplits(3))
        XCTAssertEqual(whole.transcript, split.transcript)
    }

    func testSeedingIsPerThreadAndRestored() throws {
        DeterministicRandom.clear()
        XCTAssertFalse(DeterministicRandom.isActive)
        DeterministicRandom.with(seed: 1) { XCTAssertTrue(DeterministicRandom.isActive) }
        XCTAssertFalse(DeterministicRandom.isActive)
        // A nested stream does not disturb the outer one.
        let plain = try DeterministicRandom.with(seed: 9) { try PrivateKey.generate(.p256).pem }
        let nested = try DeterministicRandom.with(seed: 9) { () throws -> String in
            _ = try DeterministicRandom.with(seed: 123) { try PrivateKey.generate(.p256) }
            return try PrivateKey.generate(.p256).pem
        }
        XCTAssertEqual(plain, nested)
    }

    func testFactoryIsIndependentOfCreationOrder() throws {
        let f1 = try CertificateFactory(seed: 3)
        let a1 = try f1.serverIdentity(hostname: "a.test")
        let b1 = try f1.serverIdentity(hostname: "b.test", variant: .expired)
        let f2 = try CertificateFactory(seed: 3)
        let b2 = try f2.serverIdentity(hostname: "b.test", variant: .expired)
        let a2 = try f2.serverIdentity(hostname: "a.test")
        XCTAssertEqual(a1.leaf.der, a2.leaf.der)
        XCTAssertEqual(b1.leaf.der, b2.leaf.der)
        XCTAssertEqual(a1.key.pem, a2.key.pem)
    }
}
