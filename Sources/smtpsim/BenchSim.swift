import EndpointHosting
import ArgumentParser
import Foundation
import SMTPClient
import SMTPCore
import SMTPTLS
import Simulation

extension Bench {
    /// `smtpsim bench sim`: whole simulated sessions per second and memory per concurrent session.
    struct Sim: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulated SMTP sessions per second (STARTTLS full, cheap TLS, plaintext) and memory for concurrent sessions."
        )

        @Option(help: "Sessions per throughput measurement.") var sessions: Int = 2000
        @Option(help: "Repetitions; the median is reported.") var repetitions: Int = 3
        @Option(help: "Concurrent sessions for the memory measurement: plaintext.") var concurrentPlaintext: Int = 10_000
        @Option(help: "Concurrent sessions for the memory measurement: TLS.") var concurrentTLS: Int = 1000
        @Option(help: "The C baseline's source (the repo's own, run from the checkout); skipped when missing.")
        var baseline = CBaseline.defaultSource
        @Option(help: "Only this measurement: throughput, plaintext, cheap-tls12, memory-plaintext, memory-tls (memory figures need their own process).")
        var only: String?

        @Option(help: "With --only plaintext or cheap-tls12: what the trace records (count, digest or events).") var trace: String = "count"

        func run() throws {
            let detail: TraceDetail
            switch trace {
            case "count": detail = .count
            case "digest": detail = .digest
            case "events": detail = .events
            default: throw ValidationError("--trace takes count, digest or events")
            }
            #if DEBUG
            print("warning: debug build; use `swift build -c release && .build/release/smtpsim bench sim`")
            #endif
            switch only {
            case "memory-plaintext"?:
                print(try memory(concurrent: concurrentPlaintext, tls: false))
                return
            case "memory-tls"?:
                print(try memory(concurrent: concurrentTLS, tls: true))
                return
            case "plaintext"?:
                print(String(format: "plaintext: %.0f sessions/s", try throughput(profile: .full, policy: .plaintext, trace: detail)))
                return
            case "cheap-tls12"?:
                print(String(format: "cheap TLS 1.2 PSK: %.0f sessions/s", try throughput(profile: .cheap(.tls12), policy: .required, trace: detail)))
                return
            case "throughput"?, nil:
                break
            case let other?:
                throw ValidationError("unknown measurement \(other)")
            }
            print("smtpsim bench sim: one session = greeting, EHLO, [STARTTLS, TLS 1.3 handshake, EHLO,] MAIL, RCPT, 1 KiB DATA, QUIT")
            print("(\(sessions) sessions per run, one World, one thread, median of \(repetitions))")
            let full = try throughput(profile: .full, policy: .required)
            print(String(format: "  %-40@ %9.0f sessions/s", "full STARTTLS (P-256, X25519, verified)" as NSString, full))
            let cheap = try throughput(profile: .cheap(.tls13), policy: .required)
            print(String(format: "  %-40@ %9.0f sessions/s", "cheap STARTTLS (TLS 1.3 PSK)" as NSString, cheap))
            let cheap12 = try throughput(profile: .cheap(.tls12), policy: .required)
            let engine12 = try Bench.TLSHandshakes.cheapTLS12EngineRate(seconds: 1, repetitions: repetitions)
            print(String(format: "  %-40@ %9.0f sessions/s  -> %.0f%% of the TLS engine alone in this run (%.0f sessions/s)",
                         "cheap STARTTLS (TLS 1.2 PSK)" as NSString, cheap12, 100 * cheap12 / engine12, engine12))
            let plain = try throughput(profile: .full, policy: .plaintext)
            print(String(format: "  %-40@ %9.0f sessions/s", "plaintext" as NSString, plain))
            let digest = try throughput(profile: .full, policy: .plaintext, trace: .digest)
            let events = try throughput(profile: .full, policy: .plaintext, trace: .events)
            print(String(format: "  %-40@ %9.0f sessions/s (%.2f of counting only); every event kept: %.0f (%.2f)",
                         "plaintext, streaming trace digest" as NSString, digest, digest / plain, events, events / plain))
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-bench-sim-\(getpid())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try CBaseline.writeCertificates(into: dir, kind: "ec", keyType: .p256)
            if let raw = try CBaseline.sessionsPerSecond(source: baseline, certificates: dir, kind: "ec", seconds: 3, repetitions: repetitions) {
                print(String(format: "  %-40@ %9.0f sessions/s  -> full STARTTLS session at %.0f%% of it; cheap profile %.1fx it",
                             "C baseline: raw in-memory handshake" as NSString, raw, 100 * full / raw, cheap12 / raw))
            } else {
                print("  (C baseline not found at \(baseline))")
            }
            for (label, argument) in [("memory, plaintext", "memory-plaintext"), ("memory, TLS", "memory-tls")] {
                // A fresh process, so the peak RSS belongs to this measurement alone.
                let out = try shell([CommandLine.arguments[0], "bench", "sim", "--only", argument,
                                     "--concurrent-plaintext", String(concurrentPlaintext), "--concurrent-tls", String(concurrentTLS)])
                print("  \(label): \(out.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }

        static func body() -> [UInt8] {
            var b = Array("Subject: benchmark\r\n\r\n".utf8)
            while b.count < 1024 - 2 { b += Array("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n".utf8) }
            return Array(b.prefix(1022)) + [13, 10]
        }

        private func configuration(count: Int, profile: TLSProfile, policy: TLSPolicy, spacing: Int64) throws -> SimulationConfiguration {
            var config = SimulationConfiguration(seed: 1)
            config.tls = profile
            config.eventBudget = Int.max
            let from = ReversePath.mailbox(try Mailbox("alice@example.test")), to = ForwardPath.mailbox(try Mailbox("bob@example.net"))
            let body = Self.body()  // one array for every client, as a scenario's clients share theirs
            config.clients = (0..<count).map { i in
                var spec = ClientSpec(messages: [OutgoingMessage(id: "m\(i)", from: from, to: [to], body: body)])
                spec.configuration.policy = policy
                spec.connectAt = Int64(i) * spacing
                return spec
            }
            return config
        }

        /// Sessions per second; the trace counts its events unless told otherwise (what sweeps do).
        private func throughput(profile: TLSProfile, policy: TLSPolicy, trace: TraceDetail = .count) throws -> Double {
            var rates: [Double] = []
            for _ in 0..<repetitions {
                let config = try configuration(count: sessions, profile: profile, policy: policy, spacing: 1_000_000)
                let clock = ContinuousClock()
                let start = clock.now
                let world = try World(configuration: config, trace: trace)
                let result = world.run()
                let d = clock.now - start
                guard result.accepted.count == sessions, result.findings.isEmpty else {
                    throw ValidationError("benchmark run did not deliver every message: \(result.accepted.count)/\(sessions), \(result.findings)")
                }
                rates.append(Double(sessions) / d.inSeconds)
            }
            return rates.sorted()[rates.count / 2]
        }

        /// Peak RSS growth while `concurrent` sessions are all open at once (they connect together
        /// and every segment waits 50 ms, so none finishes before all have started).
        private func memory(concurrent: Int, tls: Bool) throws -> String {
            // Peak RSS reset (Linux: writing 5 to clear_refs resets VmHWM), so the peak measured
            // is this run's, not the process's so far.
            try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
            let before = Self.peakKiB()
            var config = try configuration(count: concurrent, profile: .full, policy: tls ? .required : .plaintext, spacing: 0)
            config.faults = [FaultRule(.latency(min: 50_000_000, max: 50_000_000))]
            let result = try World(configuration: config, trace: .count).run()
            guard result.accepted.count == concurrent else { throw ValidationError("memory run delivered \(result.accepted.count)/\(concurrent)") }
            let after = Self.peakKiB()
            let mib = Double(after - before) / 1024
            return String(format: "%d concurrent sessions: peak RSS +%.1f MiB (%.1f KiB per session, trace counted)", concurrent, mib, mib * 1024 / Double(concurrent))
        }

        /// VmHWM from /proc/self/status, KiB.
        static func peakKiB() -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
            else { return 0 }
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
    }
}
