import EndpointHosting
import Foundation
import SMTPCore
import SMTPTLS

/// A scenario's client script (docs/scenario-format.md "Scripts") run against a real server:
/// `smtpsim run FILE --against HOST:PORT`, how a difference `smtpsim learn --export` wrote is
/// reproduced on the server it was learned from. Each step as the simulator's scripted client
/// does it, each `expect` judged by the same rule (`ScriptStep.judge`); where the simulator would
/// wait for ever (no reply) the step waits `timeout` seconds and notes it. The handshake checks no
/// certificate (the script tests the server's SMTP, not its PKI).
public enum SocketScript {
    public struct Run: Sendable {
        /// What the simulator's trace would note: `script: expected …, got …`, `script: TLS failed`.
        public var notes: [String]
        /// The dialogue, in order.
        public var exchanges: [Probe.Exchange]
        /// What the server did that the oracles one end can see judge wrong (`SessionJudge`;
        /// `eventIndex` indexes `exchanges`).
        public var findings: [Finding] = []
    }

    public static func run(_ steps: [ScriptStep], against server: HostPort, timeout: Double) async throws -> Run {
        // The simulator's scripted client itself, on a socket: each `expect` given `timeout`
        // seconds, the connection closed after the last step.
        let endpoint = ScriptedEndpoint(role: .client, steps: steps)
        endpoint.replyTimeout = Int64(timeout * 1e9)
        endpoint.closesWhenDone = true
        let context: TLSContext
        do {
            context = try TLSContext(TLSConfiguration(role: .client))  // no certificate check: the script tests SMTP
        } catch {
            throw NetError.setup("TLS setup failed: \(error)")
        }
        let channel = try await Sockets.connect(server, timeout: timeout)
        let recorder = Recorder()
        let session = SocketSession(endpoint: endpoint, tlsContext: context, limits: SessionLimits(sessionSeconds: 2 + Double(endpoint.longestRun) / 1e9)) { recorder.record($0) }
        recorder.session = session
        _ = await session.run(channel)
        return Run(notes: recorder.notes, exchanges: recorder.exchanges, findings: recorder.findings)
    }

    /// The session's events as the run reports them: the script's notes (what the simulator's
    /// trace notes of a scripted client) and every exchange, with the layer it travelled in.
    final class Recorder {
        weak var session: SocketSession?
        private(set) var notes: [String] = []
        var exchanges: [Probe.Exchange] { log.exchanges }
        private var log = Probe.ExchangeLog()
        /// The session's findings, each pointing at its exchange.
        private(set) var findings: [Finding] = []

        func record(_ event: WireEvent) {
            switch event {
            case .sent(let bytes, _): log.append(.sent, epoch: session?.epoch ?? 0, bytes)
            case .received(let bytes, _): log.append(.received, epoch: session?.epoch ?? 0, bytes)
            case .note(let text) where text.hasPrefix("script:") || text.hasSuffix("no established TLS session on this side"):
                notes.append(text)
            case .finding(var finding):
                // Logged right after the write or read that shows it: that exchange.
                finding.eventIndex = max(0, exchanges.count - 1)
                findings.append(finding)
            case .note, .tls, .fault:
                break
            }
        }
    }

    /// `run`, for a synchronous caller (`smtpsim run --against`).
    public static func runBlocking(_ steps: [ScriptStep], against server: HostPort, timeout: Double) throws -> Run {
        try blocking { try await run(steps, against: server, timeout: timeout) }
    }
}
