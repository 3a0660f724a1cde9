import SMTPCore
import SMTPServer

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
    /// Put TLS between the link and the script now.
    case startTLS
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

    public init(role: EndpointRole, steps: [ScriptStep]) {
        self.role = role
        self.steps = steps
    }

    public func start() -> [EndpointAction] { advance() }

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
        guard id == Self.pause, pausing else { return [] }
        pausing = false
        return advance()
    }

    public func peerClosed() -> [EndpointAction] {
        guard !closed else { return [] }
        closed = true
        return [.close]
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
                guard let matched = consumeExpected(prefix) else { return out }
                if !matched.ok { out.append(.note("script: expected \(prefix.debugDescription), got \(matched.got.debugDescription)")) }
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
        return out
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
