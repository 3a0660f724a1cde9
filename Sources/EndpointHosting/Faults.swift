import SMTPTLS

/// Which way bytes travel.
public enum Direction: String, Hashable, Sendable, Codable {
    case clientToServer = "c>s"
    case serverToClient = "s>c"

    public var reversed: Direction { self == .clientToServer ? .serverToClient : .clientToServer }
}

/// A side of a connection.
public enum Side: String, Hashable, Sendable, Codable, CaseIterable {
    case client, server

    public var writes: Direction { self == .client ? .clientToServer : .serverToClient }
}

/// A point in a session where a fault can strike (docs/catalog.md E1), mapped onto what the sides write.
public enum ProtocolPhase: String, CaseIterable, Hashable, Sendable, Codable {
    case beforeGreeting = "before-greeting"
    case midGreeting = "mid-greeting"
    case afterGreeting = "after-greeting"
    case midEHLOReply = "mid-ehlo-reply"
    case afterSTARTTLS220 = "after-starttls-220"
    case midHandshake = "mid-handshake"
    case afterPostTLSEHLO = "after-post-tls-ehlo"
    case afterAUTH = "after-auth"
    case afterMAIL = "after-mail"
    case afterRCPT = "after-rcpt"
    case after354 = "after-354"
    case midBody = "mid-body"
    /// After the final dot, before its reply: the duplicate-delivery window (RFC 5321 §4.5.3.2.6).
    case afterFinalDot = "after-final-dot"
    case afterFinalReply = "after-final-reply"

    /// The trigger that finds this phase in a session of smtpsim's own machines.
    public var trigger: Trigger {
        switch self {
        case .beforeGreeting: .connectionOpened
        case .midGreeting: .write(side: .server, pattern: "220", cut: .afterMatch, epoch: 0)
        case .afterGreeting: .write(side: .server, pattern: "220", cut: .afterWrite, epoch: 0)
        case .midEHLOReply: .write(side: .server, pattern: "250-", cut: .afterMatch, epoch: 0)
        case .afterSTARTTLS220: .tlsStarted
        case .midHandshake: .handshakeBytes(200)
        case .afterPostTLSEHLO: .write(side: .server, pattern: "250", cut: .afterWrite, epoch: 1)
        case .afterAUTH: .write(side: .server, pattern: "235", cut: .afterWrite, epoch: nil)
        case .afterMAIL: .write(side: .client, pattern: "MAIL FROM:", cut: .afterWrite, epoch: nil)
        case .afterRCPT: .write(side: .client, pattern: "RCPT TO:", cut: .afterWrite, epoch: nil)
        case .after354: .write(side: .server, pattern: "354", cut: .afterWrite, epoch: nil)
        case .midBody: .midBody
        case .afterFinalDot: .write(side: .client, pattern: "\r\n.\r\n", cut: .afterMatch, epoch: nil)
        case .afterFinalReply: .finalReply
        }
    }
}

/// Where in a matching write a fault takes effect.
public enum Cut: String, Hashable, Sendable, Codable {
    /// Right after the matched bytes: the rest of the write is caught by the fault.
    case afterMatch = "after-match"
    /// After the whole write that holds the match.
    case afterWrite = "after-write"
}

/// When a fault fires. Patterns are matched on the plaintext a side writes (inside TLS too, before
/// encryption), the first time they occur on a connection.
public indirect enum Trigger: Hashable, Sendable, Codable {
    case connectionOpened
    /// Simulated nanoseconds after the run started.
    case atTime(Int64)
    case write(side: Side, pattern: String, cut: Cut, epoch: Int?)
    /// The client started its TLS handshake.
    case tlsStarted
    /// After this many ciphertext octets of handshake, server to client.
    case handshakeBytes(Int)
    /// The first client write after a 354.
    case midBody
    /// The first server write after the client's final dot.
    case finalReply
    case phase(ProtocolPhase)

    /// A phase resolved to the trigger that finds it.
    public var resolved: Trigger {
        if case .phase(let p) = self { return p.trigger }
        return self
    }
}

/// Every fault a scenario file can name, with its settings and what it does: the one table the
/// loader, the writer, the trace, `smtpsim faults` and the schema test read.
public enum FaultKind: String, CaseIterable, Hashable, Sendable {
    case latency, split, coalesce, stall, reset
    case halfClose = "half-close"
    case truncate, corrupt
    case replaceReply = "replace-reply"
    case failHandshake = "fail-handshake"
    case async421 = "async-421"
    case refuseConnection = "refuse-connection"
    case connectTimeout = "connect-timeout"

    /// Its own settings as a file writes them (the common `at`, `occurrence`, `connections`,
    /// `direction` aside).
    public var parameters: String {
        switch self {
        case .latency: "ms: N | [MIN, MAX]"
        case .split: "every: N"
        case .coalesce: "window: DURATION"
        case .stall: "for: DURATION, at: TRIGGER"
        case .reset: "at: TRIGGER | probability: RATIO"
        case .halfClose, .truncate: "direction, at: TRIGGER"
        case .corrupt: "probability: RATIO"
        case .replaceReply: "with: TEXT, at: TRIGGER"
        case .failHandshake: "class: FAILURE"
        case .async421: "at: TRIGGER"
        case .refuseConnection: ""
        case .connectTimeout: "after: DURATION"
        }
    }

    public var summary: String {
        switch self {
        case .latency: "every segment waits a uniform time; TCP order is kept"
        case .split: "segments of at most N octets (1: one byte per segment)"
        case .coalesce: "writes within the window leave as one segment"
        case .stall: "the link holds its bytes for a while"
        case .reset: "the connection breaks; nothing more is delivered"
        case .halfClose: "one direction closes in order (FIN)"
        case .truncate: "bytes in one direction vanish from then on, without a close"
        case .corrupt: "one byte of a plaintext segment changes (a broken middlebox)"
        case .replaceReply: "the server's write is replaced (bad replies)"
        case .failHandshake: "the client's TLS handshake fails with that class (\(TLSFailure.Kind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .async421: "the server sends 421 and closes (RFC 5321 §3.8)"
        case .refuseConnection: "the connection is refused"
        case .connectTimeout: "the connection attempt times out"
        }
    }
}

/// What a fault does.
public enum FaultEffect: Hashable, Sendable, Codable {
    /// Every segment waits a uniform time in [min, max] nanoseconds (TCP order kept).
    case latency(min: Int64, max: Int64)
    /// Segments of at most this many octets (1: one byte per segment).
    case split(maxSegment: Int)
    /// Writes made within `window` nanoseconds leave as one segment.
    case coalesce(window: Int64)
    /// The link holds its bytes for this long.
    case stall(duration: Int64)
    /// The connection breaks: both sides see it close, nothing more is delivered.
    case reset
    /// Reset each segment with this probability.
    case resetProbability(Ratio)
    /// One direction closes in order (FIN); the other stays open.
    case halfClose(Direction)
    /// Bytes in one direction are dropped from here on, without any close.
    case truncate(Direction)
    /// Each plaintext segment has one byte changed with this probability (a broken middlebox).
    case corrupt(Ratio)
    /// The server's write is replaced by these bytes.
    case replaceReply(String)
    /// The client's TLS handshake fails with this failure class, whatever OpenSSL says.
    case failHandshake(TLSFailure.Kind)
    /// The server sends 421 and closes (RFC 5321 §3.8).
    case async421
    /// The connection is refused outright.
    case refuseConnection
    /// The connection attempt times out after this long.
    case connectTimeout(Int64)
}

extension FaultEffect {
    public var kind: FaultKind {
        switch self {
        case .latency: .latency
        case .split: .split
        case .coalesce: .coalesce
        case .stall: .stall
        case .reset, .resetProbability: .reset
        case .halfClose: .halfClose
        case .truncate: .truncate
        case .corrupt: .corrupt
        case .replaceReply: .replaceReply
        case .failHandshake: .failHandshake
        case .async421: .async421
        case .refuseConnection: .refuseConnection
        case .connectTimeout: .connectTimeout
        }
    }
}

/// One fault: what, when, and on which connection attempts.
public struct FaultRule: Hashable, Sendable, Codable, CustomStringConvertible {
    public var effect: FaultEffect
    /// nil: always on (latency, split, coalesce, corruption) or at connect (refuse, timeout).
    public var at: Trigger?
    /// Which connections (1-based, in the order they open); nil for all.
    public var connections: [Int]?
    /// Directions a link fault applies to; nil for both.
    public var direction: Direction?
    /// Strike the Nth time the trigger is met on a connection (nil: the first). Phases are met
    /// once per occurrence in the session: `mid-body` once per message's data, `after-final-reply`
    /// once per final dot; a write trigger once per matching write.
    public var occurrence: Int?

    public init(_ effect: FaultEffect, at: Trigger? = nil, occurrence: Int? = nil, connections: [Int]? = nil, direction: Direction? = nil) {
        self.effect = effect
        self.at = at
        self.occurrence = occurrence
        self.connections = connections
        self.direction = direction
    }

    public func applies(to connection: Int) -> Bool { connections.map { $0.contains(connection) } ?? true }
    public func applies(to d: Direction) -> Bool { direction.map { $0 == d } ?? true }

    /// The rule as a scenario file writes it: `{reset: {at: after-final-dot, connections: [1]}}`.
    public var description: String { written.description }
}
