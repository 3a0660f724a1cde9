import ArgumentParser
import Foundation
import EndpointHosting
import SMTPClient
import SMTPTLS

/// `smtpsim tls`: one in-memory TLS handshake between smtpsim's client and server engines,
/// deterministic from the seed, with the failure classified the way the simulator reports it.
struct TLS: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one deterministic in-memory TLS handshake and classify its outcome.",
        discussion: Help.reflow("""
            The server presents a certificate from the factory (or your PEM files); the client trusts
            the factory's CA, pins the server certificate, or trusts nothing. Same seed, same bytes:
            the transcript digest printed last is identical on every run and in every process.
            Exit status: 0 when the handshake completes, 1 when it fails (the failure is classified).
            """)
    )

    enum Trust: String, ExpressibleByArgument, CaseIterable {
        case factoryCA = "factory-ca", pinned, none
    }

    enum Version: String, ExpressibleByArgument, CaseIterable {
        case v12 = "1.2", v13 = "1.3"
        var tls: TLSVersion { self == .v12 ? .tls12 : .tls13 }
    }

    @Option(help: "The run's seed.") var seed: UInt64 = 1
    @Option(help: "Server host name (SNI and certificate check).") var host = "mx.example.test"
    @Option(help: "Certificate variant: \(CertificateFactory.Variant.allCases.map(\.rawValue).joined(separator: ", ")).")
    var variant: CertificateFactory.Variant = .valid
    @Option(help: "Key type: \(listed(CertificateFactory.KeyType.self)).") var key: CertificateFactory.KeyType = .p256
    @Option(name: .customLong("tls-version"), help: "TLS version: 1.2 or 1.3.") var version: Version = .v13
    /// The old name, which shadowed the global `--version`: still accepted for one release.
    @Option(name: .customLong("version"), help: .hidden) var deprecatedVersion: Version?
    @Option(help: "Client trust: factory-ca, pinned or none.") var trust: Trust = .factoryCA
    @Option(help: "Cheap-handshake profile instead of certificates: \(listed(PreSharedKey.Mode.self)).") var cheap: PreSharedKey.Mode?
    @Option(help: "Server certificate chain (PEM, leaf first) instead of the factory's.") var certificate: String?
    @Option(help: "Server private key (PEM), with --certificate.") var privateKey: String?
    @Option(help: "Write the factory's CA, the server chain and key as PEM files into this folder.") var pemOut: String?
    @Option(help: "Write the client's NSS key-log lines (SSLKEYLOGFILE format) to this file.") var keylog: String?

    func run() throws {
        var version = version
        if let old = deprecatedVersion {
            FileHandle.standardError.write(Data("smtpsim tls: --version is deprecated (it shadows the global --version): use --tls-version\n".utf8))
            version = old
        }
        let keyType = key
        let result: Int32 = try DeterministicRandom.with(seed: seed) {
            let factory = try CertificateFactory(seed: seed, keyType: keyType)
            var identity = try factory.serverIdentity(hostname: host, variant: variant)
            if let certificate {
                guard let privateKey else { throw ValidationError("--certificate needs --private-key") }
                identity = try TLSIdentity(
                    certificatePEM: String(contentsOfFile: certificate, encoding: .utf8),
                    keyPEM: String(contentsOfFile: privateKey, encoding: .utf8))
            }
            if let pemOut {
                try FileManager.default.createDirectory(atPath: pemOut, withIntermediateDirectories: true)
                try factory.root.pem.write(toFile: "\(pemOut)/ca.pem", atomically: true, encoding: .utf8)
                try identity.chain.map(\.pem).joined().write(toFile: "\(pemOut)/server.pem", atomically: true, encoding: .utf8)
                try identity.key.pem.write(toFile: "\(pemOut)/server.key", atomically: true, encoding: .utf8)
                print("wrote \(pemOut)/ca.pem, \(pemOut)/server.pem, \(pemOut)/server.key")
            }
            var client = TLSConfiguration(role: .client)
            var server = TLSConfiguration.server(identity)
            switch trust {
            case .factoryCA: client.trust = .anchors(factory.trustAnchors)
            case .pinned: client.trust = .pinned(identity.leaf)
            case .none: client.trust = .none
            }
            if let mode = cheap {
                let psk = PreSharedKey.derived(seed: seed, mode: mode)
                client = .cheap(role: .client, psk: psk)
                server = .cheap(role: .server, psk: psk)
            } else {
                client.minimumVersion = version.tls
                client.maximumVersion = version.tls
            }
            if variant == .weakKey { server.securityLevel = 0 }
            client.keyLog = keylog != nil
            let c = try TLSConnection(context: TLSContext(client), serverName: host, verificationTime: factory.epoch)
            let s = try TLSConnection(context: TLSContext(server), verificationTime: factory.epoch)
            let run = TLSPump.handshake(client: c, server: s)
            print("seed \(seed): \(cheap?.rawValue ?? "certificate \(variant.rawValue) (\(keyType.rawValue))"), client trust \(trust.rawValue), host \(host)")
            switch (c.state, s.state) {
            case (.established(let d), .established):
                print("handshake: complete, \(d.version) \(d.cipherSuite)\(d.group.map { " " + $0 } ?? "")")
                if let leaf = d.peerCertificates.first {
                    print("server certificate: \(leaf.subject), SAN \(leaf.subjectAlternativeNames.joined(separator: " ")), sha256 \(leaf.sha256Fingerprint)")
                }
                print("verification: \(d.peerCertificates.isEmpty ? "none (pre-shared key)" : d.verifyResultText)")
            default:
                for (side, state) in [("client", c.state), ("server", s.state)] {
                    if case .failed(let f) = state {
                        print("\(side): failed, \(f.kind.rawValue) (RFC 8460: \(TLSResultType(f).rawValue)): \(f.reason)")
                    } else {
                        print("\(side): \(state)")
                    }
                }
            }
            print("bytes: client→server \(run.clientToServer.count), server→client \(run.serverToClient.count)")
            print("transcript sha256: \(Digest.sha256Hex(run.transcript))")
            if let keylog {
                try (c.keyLogLines.joined(separator: "\n") + "\n").write(toFile: keylog, atomically: true, encoding: .utf8)
            }
            return c.isEstablished && s.isEstablished ? 0 : 1
        }
        if result != 0 { throw ExitCode(result) }
    }
}

/// Moves ciphertext between two engines until neither has anything to say (the simulator does
/// this over faulty links; here the link is perfect).
enum TLSPump {
    struct Run {
        var clientToServer: [UInt8] = []
        var serverToClient: [UInt8] = []
        /// Segments in order, each prefixed with its direction.
        var transcript: [UInt8] = []
    }

    @discardableResult
    static func handshake(client: TLSConnection, server: TLSConnection) -> Run {
        var run = Run()
        _ = client.advanceHandshake()
        for _ in 0..<32 {
            let a = client.drainCiphertext()
            if !a.isEmpty {
                run.clientToServer += a
                run.transcript += [0x3E] + a
                server.receiveCiphertext(a)
            }
            _ = server.advanceHandshake()
            let b = server.drainCiphertext()
            if !b.isEmpty {
                run.serverToClient += b
                run.transcript += [0x3C] + b
                client.receiveCiphertext(b)
            }
            _ = client.advanceHandshake()
            if a.isEmpty && b.isEmpty && client.pendingCiphertextCount == 0 { break }
        }
        return run
    }
}
