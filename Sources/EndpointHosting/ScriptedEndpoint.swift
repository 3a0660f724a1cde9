import SMTPCore
import SMTPServer
import SMTPTLS

/// One step of a scripted peer.
public enum ScriptStep: Hashable, Sendable, Codable {
    /// Send these bytes as they are.
    case send(String)
    /// Send a line; CRLF is added.
    case sendLine(String)
    /// Wait for the peer: a server script waits for a command line starting with this text
    /// (case-insensitive); a client script waits for a whole reply whose code starts with it.
    /// A mismatch is noted in the trace and the script goes on.
    case expect(String)
    /// A client script waits for a whole reply whose code starts with `code` and, when it is an
    /// EHLO reply, whose extension lines name every keyword of `advertises` and none of
    /// `withholds` (case-insensitive). A mismatch is noted and the script goes on.
    case expectReply(code: String, advertises: [String], withholds: [String])
    /// Wait for the peer to close the connection; a line or reply instead is a mismatch.
    case expectClose
    /// Nothing comes for this many nanoseconds (the learner's `timeout`); a line, a reply or
    /// the peer closing meanwhile is a mismatch.
    case expectNothing(Int64)
    /// Put TLS between the link and the script now.
    case startTLS
    /// End the TLS session with close_notify, then go on in the clear (docs/catalog.md I): the
    /// peer's own close_notify or alert is read as a record, what follows it as cleartext.
    case closeNotify
    /// End the TLS session with this fatal alert, then go on in the clear.
    case alert(TLSSessionAlert)
    /// Wait this many nanoseconds.
    case pause(Int64)
    case close
}

/// A peer that follows a script instead of a state machine: for exact misbehaviour such as a
/// multiline reply with mixed codes, a bogus 220, or plaintext where TLS belongs.
public final class ScriptedEndpoint: SimulatedEndpoint {
    public let role: EndpointRole
    public let steps: [ScriptStep]
    private var next = 0
    private var framer = LineFramer(maximumLineLength: 1 << 16)
    private var waiting = false
    private var pausing = false
    private var closed = false
    private var replyLines: [String] = []

    static let pause = TimerID.named("script-pause")
    static let silence = TimerID.named("script-silence")
    static let patience = TimerID.named("script-reply-timeout")
    /// An `expect-nothing` step's timer is running.
    private var silent = false
    /// On a real socket (`run --against`), how long an `expect` waits before it is noted as
    /// unanswered and the script goes on (nil: for ever, as in the simulator, where every
    /// wait ends with the run; RFC 5321 §4.5.3.2 has servers answer within minutes).
    public var replyTimeout: Int64?
    /// The script closes the connection after its last step (on a socket: nothing else ends it).
    public var closesWhenDone = false
    /// The `replyTimeout` timer is running for the current step.
    private var patient = false

    public init(role: EndpointRole, steps: [ScriptStep]) {
        self.role = role
        self.steps = steps
    }

    /// The longest the script can take, in nanoseconds, with `replyTimeout` for each wait for
    /// the peer (an `expect` or a handshake) and its own pauses: the bound of a socket session
    /// that runs it.
    public var longestRun: Int64 {
        steps.reduce(0) { total, step in
            switch step {
            case .pause(let ns), .expectNothing(let ns): total + ns
            case .expect, .expectReply, .expectClose, .startTLS: total + (replyTimeout ?? 0)
            case .send, .sendLine, .closeNotify, .alert, .close: total
            }
        }
    }

    public func start() -> [EndpointAction] { advance() }

    /// What the peer sent (after the script ended its TLS session, the host has already skipped
    /// the peer's own closing records: this is cleartext).
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] {
        framer.append(bytes)
        return advance()
    }

    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        framer = LineFramer(maximumLineLength: 1 << 16)
        guard report.established else {
            closed = true
            return [.note("script: TLS failed (\(report.failure?.rawValue ?? "?"))"), .close]
        }
        return advance()
    }

    public func timerFired(_ id: TimerID) -> [EndpointAction] {
        if id == Self.patience, patient, next < steps.count {
            patient = false
            let ns = replyTimeout ?? 0
            let seconds = ns % 1_000_000_000 == 0 ? "\(ns / 1_000_000_000)" : "\(Double(ns) / 1e9)"
            let note = steps[next].mismatch(got: (steps[next] == .expectClose ? "nothing" : "no reply") + " within \(seconds) s")
            next += 1
            return [.note(Note(stringLiteral: note))] + advance()
        }
        if id == Self.silence, silent {
            silent = false
            next += 1  // nothing came: the step is met
            return advance()
        }
        guard id == Self.pause, pausing else { return [] }
        pausing = false
        return advance()
    }

    public func peerClosed() -> [EndpointAction] {
        guard !closed else { return [] }
        closed = true
        guard next < steps.count else { return [.close] }
        switch steps[next] {
        case .expectClose:
            next += 1
            return [.close]
        case .expect, .expectReply, .expectNothing:
            return [.note(Note(stringLiteral: steps[next].mismatch(got: "the connection closed"))), .close]
        case .send, .sendLine, .startTLS, .closeNotify, .alert, .pause, .close:
            return [.close]
        }
    }

    public func shutdown() -> [EndpointAction] {
        guard role == .server, !closed else { return [] }
        closed = true
        return [.send(Array("421 4.3.2 Service shutting down\r\n".utf8)), .close]
    }

    /// Runs steps until one needs the peer or the clock.
    private func advance() -> [EndpointAction] {
        var out: [EndpointAction] = []
        while !closed, !pausing, next < steps.count {
            switch steps[next] {
            case .send(let text):
                out.append(.send(Array(text.utf8)))
            case .sendLine(let text):
                out.append(.send(Array((text + "\r\n").utf8)))
            case .expect(let prefix):
                guard let matched = consumeExpected(prefix) else { return out + waitForReply() }
                out += replyCame()
                if !matched.ok { out.append(.note(Note(stringLiteral: steps[next].mismatch(got: matched.got.debugDescription)))) }
            case .expectReply, .expectClose:
                // A client script's reply (or a server script's line) is judged by the step.
                guard let matched = consumeExpected(code(of: steps[next])) else { return out + waitForReply() }
                out += replyCame()
                if let note = steps[next].judge(reply: matched.got) { out.append(.note(Note(stringLiteral: note))) }
            case .expectNothing(let ns):
                if !silent {
                    silent = true
                    out.append(.setTimer(Self.silence, after: ns))
                }
                guard let matched = consumeExpected("") else { return out }
                silent = false
                out += [.cancelTimer(Self.silence), .note(Note(stringLiteral: steps[next].mismatch(got: matched.got.debugDescription)))]
            case .closeNotify, .alert:
                // The session ends under the script; what it sends next goes in the clear.
                let event: TLSSessionEvent = if case .alert(let a) = steps[next] { .alert(a) } else { .closeNotify }
                out += [.perform(event), .resumePlaintext]
            case .startTLS:
                next += 1
                out.append(.startTLS)
                // A client script waits for the handshake; a server script too (tlsFinished resumes).
                return out
            case .pause(let ns):
                pausing = true
                next += 1
                out.append(.setTimer(Self.pause, after: ns))
                return out
            case .close:
                closed = true
                next += 1
                out.append(.close)
                return out
            }
            next += 1
        }
        if closesWhenDone, !closed, !pausing, next == steps.count {
            closed = true
            out.append(.close)
        }
        return out
    }

    /// An `expect` waits: with a `replyTimeout`, its timer (once per step).
    private func waitForReply() -> [EndpointAction] {
        guard let replyTimeout, !patient else { return [] }
        patient = true
        return [.setTimer(Self.patience, after: replyTimeout)]
    }

    /// The awaited reply came: its timer is not needed.
    private func replyCame() -> [EndpointAction] {
        guard patient else { return [] }
        patient = false
        return [.cancelTimer(Self.patience)]
    }

    private func code(of step: ScriptStep) -> String {
        if case .expectReply(let code, _, _) = step { return code }
        return ""
    }

    /// Takes the next line (server) or reply (client) if complete.
    private func consumeExpected(_ prefix: String) -> (ok: Bool, got: String)? {
        while true {
            let line: ArraySlice<UInt8>
            do {
                guard let l = try framer.next() else { return nil }
                line = l
            } catch {
                return (false, "\(error.code)")
            }
            let text = String(decoding: line, as: UTF8.self)
            switch role {
            case .server:
                return (text.uppercased().hasPrefix(prefix.uppercased()), text)
            case .client:
                replyLines.append(text)
                let bytes = Array(text.utf8)
                if bytes.count >= 4, bytes[3] == 0x2D { continue }
                let reply = replyLines.joined(separator: "\n")
                replyLines = []
                return (text.hasPrefix(prefix), reply)
            }
        }
    }
}

extension ScriptStep {
    /// For an `expect` step of a client script: the trace's note when `reply` (its lines, as
    /// read, joined by LF) does not answer it, nil when it does. The simulator's scripted peer
    /// and a script run against a real server (`smtpsim run --against`) judge alike.
    public func judge(reply: String) -> String? {
        switch self {
        case .expect(let prefix):
            let last = reply.split(separator: "\n").last.map(String.init) ?? reply
            return last.hasPrefix(prefix) ? nil : mismatch(got: reply.debugDescription)
        case .expectReply(let code, let advertises, let withholds):
            let last = reply.split(separator: "\n").last.map(String.init) ?? reply
            let named = Set(reply.split(separator: "\n").dropFirst().map { $0.dropFirst(4).prefix { $0 != " " }.uppercased() })
            let ok = last.hasPrefix(code) && advertises.allSatisfy { named.contains($0.uppercased()) } && !withholds.contains { named.contains($0.uppercased()) }
            return ok ? nil : mismatch(got: reply.debugDescription)
        case .expectClose, .expectNothing:
            return mismatch(got: reply.debugDescription)
        case .send, .sendLine, .startTLS, .closeNotify, .alert, .pause, .close:
            return nil
        }
    }

    /// `script: expected "250 with STARTTLS without AUTH", got …`.
    public func mismatch(got: String) -> String {
        switch self {
        case .expect(let prefix): return "script: expected \(prefix.debugDescription), got \(got)"
        case .expectReply(let code, let advertises, let withholds):
            let wanted = [code] + advertises.map { "with \($0)" } + withholds.map { "without \($0)" }
            return "script: expected \(wanted.joined(separator: " ").debugDescription), got \(got)"
        case .expectClose: return "script: expected the connection closed, got \(got)"
        case .expectNothing: return "script: expected no reply, got \(got)"
        case .send, .sendLine, .startTLS, .closeNotify, .alert, .pause, .close: return "script: \(written) does not expect, got \(got)"
        }
    }

    /// The step as a scenario file writes it (docs/scenario-format.md "Scripts").
    public var written: Written {
        switch self {
        case .send(let text): .map([.init("send", .text(text))])
        case .sendLine(let text): .map([.init("send-line", .text(text))])
        case .expect(let prefix): .map([.init("expect", .text(prefix))])
        case .expectReply(let code, let advertises, let withholds):
            .map([.init("expect", .map([.init("reply", .text(code))]
                    + (advertises.isEmpty ? [] : [.init("advertises", .list(advertises.map(Written.word)))])
                    + (withholds.isEmpty ? [] : [.init("withholds", .list(withholds.map(Written.word)))])))])
        case .expectClose: .word("expect-close")
        case .expectNothing(let ns): .map([.init("expect-nothing", .duration(ns))])
        case .startTLS: .word("start-tls")
        case .closeNotify: .word("close-notify")
        case .alert(let alert): .map([.init("alert", .word(alert.rawValue))])
        case .pause(let ns): .map([.init("pause", .duration(ns))])
        case .close: .word("close")
        }
    }
}
