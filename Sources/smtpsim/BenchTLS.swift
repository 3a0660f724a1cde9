import ArgumentParser
import Foundation
import SMTPTLS

extension Bench {
    /// `smtpsim bench tls`: full in-memory TLS sessions per second through SMTPTLS, beside the C
    /// baseline (`Benchmarks/tls_session_baseline.c`) built and run in the same invocation with
    /// the same certificates.
    struct TLSHandshakes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tls",
            abstract: "TLS sessions per second (full and cheap profiles) beside the OpenSSL C baseline."
        )

        @Option(help: "Seconds per measurement.") var seconds: Double = 3
        @Option(help: "Repetitions; the median is reported.") var repetitions: Int = 3
        @Option(help: "The C baseline's source (the repo's own, run from the checkout); skipped when missing.")
        var baseline = CBaseline.defaultSource

        func run() throws {
            #if DEBUG
            print("warning: debug build; use `swift build -c release && .build/release/smtpsim bench tls`")
            #endif
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-bench-tls-\(getpid())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }

            print("smtpsim bench tls: one session = new client and server, handshake, ~400 B of SMTP each way, close_notify both ways")
            print("(median of \(repetitions) x \(seconds) s, both peers on one thread, OpenSSL randomness seeded as in simulations)")
            var results: [String: Double] = [:]
            for (label, keyType, kind) in [("P-256 cert, TLS 1.3, X25519", CertificateFactory.KeyType.p256, "ec"),
                                           ("RSA-2048 cert, TLS 1.3, X25519", .rsa2048, "rsa")] {
                try CBaseline.writeCertificates(into: dir, kind: kind, keyType: keyType)
                let factory = try CertificateFactory(seed: 1, keyType: keyType)
                let identity = try factory.serverIdentity(hostname: "localhost")
                var client = TLSConfiguration.client(trusting: factory.trustAnchors)
                client.minimumVersion = .tls13
                client.groups = ["X25519"]
                var server = TLSConfiguration.server(identity)
                server.groups = ["X25519"]
                let rate = try measure(client: client, server: server, time: factory.epoch)
                results[kind] = rate
                print(String(format: "  %-34@ %8.0f sessions/s  (%.0f us/session)", label as NSString, rate, 1e6 / rate))
            }
            for mode in [PreSharedKey.Mode.tls13, .tls12] {
                let psk = PreSharedKey.derived(seed: 1, mode: mode)
                let rate = try measure(client: .cheap(role: .client, psk: psk), server: .cheap(role: .server, psk: psk), time: 0)
                results[mode.rawValue] = rate
                let full = results["ec"] ?? rate
                print(String(format: "  %-34@ %8.0f sessions/s  (%.1fx the P-256 full handshake)",
                             "cheap profile \(mode.rawValue)" as NSString, rate, rate / full))
            }
            for kind in ["ec", "rsa"] {
                guard let median = try CBaseline.sessionsPerSecond(source: baseline, certificates: dir, kind: kind, seconds: seconds, repetitions: repetitions) else {
                    print("  (C baseline not found at \(baseline); pass --baseline PATH)")
                    break
                }
                let ours = results[kind] ?? 0
                print(String(format: "  C baseline %@ (same certificates)   %8.0f sessions/s  -> smtpsim at %.0f%% of it",
                             (kind == "ec" ? "P-256   " : "RSA-2048") as NSString, median, 100 * ours / median))
            }
        }

        private func measure(client: TLSConfiguration, server: TLSConfiguration, time: Int64) throws -> Double {
            try Self.measure(client: client, server: server, time: time, seconds: seconds, repetitions: repetitions)
        }

        /// The engine alone (no SMTP machine, no world): the cheap TLS 1.2 PSK session `bench sim`
        /// holds its simulated session against, in the same run.
        static func cheapTLS12EngineRate(seconds: Double, repetitions: Int) throws -> Double {
            let psk = PreSharedKey.derived(seed: 1, mode: .tls12)
            return try measure(client: .cheap(role: .client, psk: psk), server: .cheap(role: .server, psk: psk), time: 0, seconds: seconds, repetitions: repetitions)
        }

        /// Median sessions per second for one configuration pair.
        static func measure(client: TLSConfiguration, server: TLSConfiguration, time: Int64, seconds: Double, repetitions: Int) throws -> Double {
            try DeterministicRandom.with(seed: 1) {
                let cctx = try TLSContext(client)
                let sctx = try TLSContext(server)
                let request = Array("MAIL FROM:<sender@client.example> SIZE=180\r\nRCPT TO:<rcpt@server.example>\r\nDATA\r\nFrom: sender@client.example\r\nTo: rcpt@server.example\r\nSubject: benchmark\r\nMessage-ID: <1@client.example>\r\n\r\nHello over an in-memory TLS link. This is a small SMTP-sized body.\r\n.\r\nQUIT\r\n".utf8)
                let reply = Array("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 1234ABCD\r\n221 2.0.0 Bye\r\n".utf8)
                func session() throws {
                    let c = try TLSConnection(context: cctx, serverName: "localhost", verificationTime: time)
                    let s = try TLSConnection(context: sctx, verificationTime: time)
                    TLSPump.handshake(client: c, server: s)
                    guard c.isEstablished, s.isEstablished else { throw ValidationError("benchmark handshake failed: \(c.state) \(s.state)") }
                    try c.writePlaintext(request)
                    s.receiveCiphertext(c.drainCiphertext())
                    guard case .data(let got) = s.readPlaintext(), got.count == request.count else { throw ValidationError("transfer") }
                    try s.writePlaintext(reply)
                    c.receiveCiphertext(s.drainCiphertext())
                    guard case .data(let back) = c.readPlaintext(), back.count == reply.count else { throw ValidationError("transfer") }
                    c.sendCloseNotify()
                    s.receiveCiphertext(c.drainCiphertext())
                    _ = s.readPlaintext()
                    s.sendCloseNotify()
                    c.receiveCiphertext(s.drainCiphertext())
                    _ = c.readPlaintext()
                }
                for _ in 0..<20 { try session() }  // warm-up, as the baseline does
                var rates: [Double] = []
                for _ in 0..<repetitions {
                    let clock = ContinuousClock()
                    let start = clock.now
                    var n = 0
                    var elapsed = 0.0
                    repeat {
                        for _ in 0..<16 { try session() }
                        n += 16
                        let d = clock.now - start
                        elapsed = d.inSeconds
                    } while elapsed < seconds
                    rates.append(Double(n) / elapsed)
                }
                return rates.sorted()[rates.count / 2]
            }
        }
    }
}

/// Runs a command, returns its standard output; throws on a non-zero exit.
@discardableResult
func shell(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ValidationError("\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// The C baseline of Benchmarks/tls_session_baseline.c: full in-memory OpenSSL sessions per
/// second, built and run here with certificates written by the factory.
enum CBaseline {
    /// The baseline's source in the repository (`bench` runs from the checkout).
    static let defaultSource = "Benchmarks/tls_session_baseline.c"

    /// Writes `ca-<kind>.pem`, `<kind>.pem`, `<kind>.key` for "localhost" into `dir`, valid today
    /// (the C program verifies at the wall clock, not at the factory's fixed epoch).
    static func writeCertificates(into dir: URL, kind: String, keyType: CertificateFactory.KeyType) throws {
        let factory = try CertificateFactory(seed: 1, epoch: NetCLI.today(), keyType: keyType)
        let identity = try factory.serverIdentity(hostname: "localhost")
        try factory.root.pem.write(to: dir.appendingPathComponent("ca-\(kind).pem"), atomically: true, encoding: .utf8)
        try identity.chain.map(\.pem).joined().write(to: dir.appendingPathComponent("\(kind).pem"), atomically: true, encoding: .utf8)
        try identity.key.pem.write(to: dir.appendingPathComponent("\(kind).key"), atomically: true, encoding: .utf8)
    }

    /// Median sessions/s of the baseline, or nil when its source is not there.
    static func sessionsPerSecond(source: String, certificates dir: URL, kind: String, seconds: Double, repetitions: Int) throws -> Double? {
        guard FileManager.default.fileExists(atPath: source) else { return nil }
        let binary = dir.appendingPathComponent("tls_session_baseline").path
        if !FileManager.default.isExecutableFile(atPath: binary) {
            try shell(["cc", "-O2", "-o", binary, source, "-lssl", "-lcrypto"])
        }
        var rates: [Double] = []
        for _ in 0..<max(1, repetitions) {
            let out = try shell([binary, "-d", dir.path, "-c", kind, "-g", "X25519", "-k", "0", "-n", "1000000", "-t", String(seconds)])
            if let field = out.split(separator: " ").first(where: { $0.hasPrefix("sessions_per_s=") }),
                let v = Double(field.dropFirst("sessions_per_s=".count))
            {
                rates.append(v)
            }
        }
        return rates.isEmpty ? nil : rates.sorted()[rates.count / 2]
    }
}
