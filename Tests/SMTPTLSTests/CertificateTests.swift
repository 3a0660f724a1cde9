import XCTest
@testable import SMTPTLS

final class CertificateTests: XCTestCase {
    func testFactoryVariants() throws {
        let f = try CertificateFactory(seed: 11)
        let epoch = f.epoch
        XCTAssertTrue(f.root.isCA)
        XCTAssertEqual(f.intermediate.issuer, f.root.subject)
        let valid = try f.serverIdentity(hostname: "mx.example.test")
        XCTAssertEqual(valid.chain.count, 2)
        XCTAssertFalse(valid.leaf.isCA)
        XCTAssertEqual(valid.leaf.subject, "CN=mx.example.test")
        XCTAssertEqual(valid.leaf.dnsNames, ["mx.example.test"])
        XCTAssertLessThan(valid.leaf.notBefore, epoch)
        XCTAssertGreaterThan(valid.leaf.notAfter, epoch)
        XCTAssertEqual(try f.serverIdentity(hostname: "mx", variant: .expired).leaf.notAfter, epoch - 30 * 86_400)
        XCTAssertGreaterThan(try f.serverIdentity(hostname: "mx", variant: .notYetValid).leaf.notBefore, epoch)
        XCTAssertEqual(try f.serverIdentity(hostname: "mx", variant: .wrongHost).leaf.dnsNames, ["other.invalid"])
        let selfSigned = try f.serverIdentity(hostname: "mx", variant: .selfSigned)
        XCTAssertEqual(selfSigned.leaf.issuer, selfSigned.leaf.subject)
        XCTAssertEqual(selfSigned.chain.count, 1)
        XCTAssertEqual(try f.serverIdentity(hostname: "mx", variant: .untrustedCA).leaf.issuer, "CN=Untrusted Root CA")
        XCTAssertEqual(try f.serverIdentity(hostname: "mx", variant: .missingIntermediate).chain.count, 1)
        XCTAssertEqual(try f.serverIdentity(hostname: "mx", variant: .weakKey).leaf.keyBits, 1024)
        XCTAssertEqual(try f.clientIdentity(name: "client").leaf.subject, "CN=client")
    }

    func testPEMRoundTrip() throws {
        let f = try CertificateFactory(seed: 12)
        let identity = try f.serverIdentity(hostname: "mx.example.test")
        let pem = identity.chain.map(\.pem).joined()
        XCTAssertTrue(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let back = try TLSIdentity(certificatePEM: pem, keyPEM: identity.key.pem)
        XCTAssertEqual(back.chain, identity.chain)
        XCTAssertEqual(back.key.pem, identity.key.pem)
        XCTAssertEqual(try Certificate(der: identity.leaf.der), identity.leaf)
        XCTAssertEqual(identity.leaf.sha256Fingerprint.count, 64)
    }

    func testBadPEMGivesClearErrors() throws {
        XCTAssertThrowsError(try Certificate(pem: "not a certificate"))
        XCTAssertThrowsError(try Certificate(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
        XCTAssertThrowsError(try PrivateKey(pem: ""))
        XCTAssertThrowsError(try Certificate(der: [0x30, 0x03, 0x02, 0x01]))
        XCTAssertThrowsError(try Certificate.chain(pem: ""))
        let f = try CertificateFactory(seed: 13)
        let a = try f.serverIdentity(hostname: "a.test")
        let b = try f.serverIdentity(hostname: "b.test")
        XCTAssertThrowsError(try TLSIdentity(certificatePEM: a.leaf.pem, keyPEM: b.key.pem)) { error in
            XCTAssertTrue("\(error)".contains("does not match"))
        }
    }

    func testRSAKeysAreSharedPerProcess() throws {
        let a = try CertificateFactory(seed: 1, keyType: .rsa2048).serverIdentity(hostname: "a.test")
        let b = try CertificateFactory(seed: 2, keyType: .rsa2048).serverIdentity(hostname: "b.test")
        XCTAssertTrue(a.key === b.key)
        XCTAssertEqual(a.key.bits, 2048)
    }
}
