import EndpointHosting
import Foundation
import SMTPCore

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

    /// Seconds to wait, each time, for cleartext after the script ended its TLS session.
    static let clearWindow = 0.2

    public static func run(_ steps: [ScriptStep], against server: HostPort, timeout: Double) async throws -> Run {
        try await ScriptedConnection.with(server, timeout: timeout) { c in
            var notes: [String] = []
            var tlsEnded = false
            var clearReplies = 0  // replies already taken from the cleartext after the TLS session ended

            /// The next reply as its lines joined by LF, "" when the peer closed, nil when none came.
            func nextReply(within window: Double = timeout) async throws -> String? {
                if !tlsEnded {
                    guard let reply = try await c.reply(timeout: window) else { return c.peerClosed ? "" : nil }
                    return text(reply)
                }
                let deadline = Date().addingTimeInterval(window)
                while true {
                    let (_, cleartext, closed) = await c.afterTLSEnd(window: min(window, clearWindow))
                    var parser = ReplyParser()
                    parser.append(cleartext)
                    var replies: [SMTPReply] = []
                    while let r = try? parser.next() { replies.append(r) }
                    if replies.count > clearReplies {
                        clearReplies += 1
                        return text(replies[clearReplies - 1])
                    }
                    if closed { return "" }
                    if Date() > deadline { return nil }
                }
            }

            steps: for step in steps {
                switch step {
                case .send(let t): try await write(Array(t.utf8))
                case .sendLine(let t): try await write(Array((t + "\r\n").utf8))
                case .expect, .expectReply, .expectClose:
                    guard let reply = try await nextReply() else {
                        if case .expectClose = step { notes.append(step.mismatch(got: "nothing within \(timeout) s")) }
                        else { notes.append(step.mismatch(got: "no reply within \(timeout) s")) }
                        continue
                    }
                    if reply.isEmpty {
                        if case .expectClose = step { break steps }
                        notes.append(step.mismatch(got: "the connection closed"))
                        break steps
                    }
                    if let note = step.judge(reply: reply) { notes.append(note) }
                case .expectNothing(let ns):
                    let window = Double(ns) / 1e9
                    let reply: String?
                    if tlsEnded {
                        reply = try await nextReply(within: window)
                    } else if let r = try await c.reply(timeout: window) {
                        reply = text(r)
                    } else {
                        reply = c.peerClosed ? "" : nil
                    }
                    if let reply { notes.append(step.mismatch(got: reply.isEmpty ? "the connection closed" : reply.debugDescription)) }
                    if reply == "" { break steps }
                case .startTLS:
                    guard try await c.handshake() else {
                        notes.append("script: TLS failed")
                        break steps
                    }
                case .closeNotify, .alert:
                    let event: TLSSessionEvent = if case .alert(let a) = step { .alert(a) } else { .closeNotify }
                    if try await c.perform(event) { tlsEnded = true } else { notes.append("\(event): no established TLS session on this side") }
                case .pause(let ns): try await Task.sleep(nanoseconds: UInt64(max(0, ns)))
                case .close: break steps
                }
            }
            return Run(notes: notes, exchanges: c.exchanges, findings: c.findings)

            func write(_ bytes: [UInt8]) async throws {
                if tlsEnded { try await c.sendRaw(bytes) } else { try await c.send(bytes) }
            }
        }
    }

    /// `run`, for a synchronous caller (`smtpsim run --against`).
    public static func runBlocking(_ steps: [ScriptStep], against server: HostPort, timeout: Double) throws -> Run {
        try blocking { try await run(steps, against: server, timeout: timeout) }
    }

    /// A reply's lines as the simulator's scripted client reads them (joined by LF).
    static func text(_ reply: SMTPReply) -> String {
        String(decoding: reply.wire, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true).joined(separator: "\n")
    }
}
