import SMTPCore
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
    // Inside TLS (docs/catalog.md I, the teardown grid):
    /// Inside the EHLO reply after TLS, after its first line.
    case midPostTLSEHLOReply = "mid-post-tls-ehlo-reply"
    /// Inside an AUTH exchange, after the server's 334 challenge (RFC 4954 §4).
    case midAUTH = "mid-auth"
    /// Inside a pipelined batch of commands, after its `RCPT TO:` (RFC 2920 §3.1).
    case midPipelinedBatch = "mid-pipelined-batch"
    /// Halfway through a BDAT chunk's octets (RFC 3030 §2).
    case midBDATChunk = "mid-bdat-chunk"
    /// After a BDAT chunk that is not the last, at the server's reply to it.
    case betweenBDATChunks = "between-bdat-chunks"
    // Implicit TLS (RFC 8314 §3): the greeting is the first thing said inside TLS.
    /// Inside the greeting, after its code, inside TLS.
    case midGreetingInTLS = "mid-greeting-in-tls"
    /// After the greeting inside TLS, before the client's EHLO.
    case afterGreetingInTLS = "after-greeting-in-tls"

    /// The phases a swarm's `random-phase` and the fuzz targets draw from: those of a STARTTLS
    /// session, in their first order (the implicit-TLS phases came later and are named only;
    /// drawing from them too would move every seed's choice).
    public static let drawn: [ProtocolPhase] = Array(allCases.prefix { $0 != .midGreetingInTLS })

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
        case .midPostTLSEHLOReply: .write(side: .server, pattern: "250-", cut: .afterMatch, epoch: 1)
        case .midAUTH: .write(side: .server, pattern: "334 ", cut: .afterWrite, epoch: nil)
        case .midPipelinedBatch: .write(side: .client, pattern: "RCPT TO:", cut: .afterMatch, epoch: nil)
        case .midBDATChunk: .midChunk
        case .betweenBDATChunks: .betweenChunks
        // A line that starts with 220 inside TLS: under implicit TLS the stream's first.
        case .midGreetingInTLS: .write(side: .server, pattern: "\n220", cut: .afterMatch, epoch: 1)
        case .afterGreetingInTLS: .write(side: .server, pattern: "\n220", cut: .afterWrite, epoch: 1)
        }
    }
}

/// Where in a matching write a fault takes effect.
public enum Cut: String, Hashable, Sendable, Codable {
    /// Right after the matched bytes: the rest of the write is caught by the fault.
    case afterMatch = "after-match"
    /// After the whole write that holds the match.
    case afterWrite = "after-write"
    /// Right before the matched bytes (a close_notify just ahead of a reply, docs/catalog.md I).
    case beforeMatch = "before-match"
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
    /// The client write that holds the middle of a BDAT chunk's octets (once per chunk).
    case midChunk
    /// The server's write after a BDAT chunk that is not the last (once per chunk).
    case betweenChunks
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
    // The TLS session after the handshake (docs/catalog.md I):
    case tlsCloseNotify = "tls-close-notify"
    case tlsAlert = "tls-alert"
    case tlsTruncatedRecord = "tls-truncated-record"
    case tlsBadRecord = "tls-bad-record"
    case tlsRecordSize = "tls-record-size"
    case tlsKeyUpdate = "tls-key-update"
    case tlsRenegotiate = "tls-renegotiate"
    case plaintextAfterTLS = "plaintext-after-tls"

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
        case .tlsCloseNotify: "from: SIDE, at: TRIGGER, then-plaintext: TEXT, then-close: BOOL"
        case .tlsAlert: "from: SIDE, alert: NAME, at: TRIGGER, then-plaintext: TEXT, then-close: BOOL"
        case .tlsTruncatedRecord, .tlsBadRecord, .tlsRenegotiate: "from: SIDE, at: TRIGGER"
        case .tlsRecordSize: "from: SIDE, octets: N[, at: TRIGGER]"
        case .tlsKeyUpdate: "from: SIDE, request-update: BOOL, at: TRIGGER"
        case .plaintextAfterTLS: "from: SIDE, bytes: TEXT, at: TRIGGER"
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
        case .tlsCloseNotify: "that side's TLS sends close_notify, then optionally cleartext octets and a TCP close"
        case .tlsAlert:
            "that side's TLS sends a fatal alert (\(TLSSessionAlert.allCases.map { "\($0.rawValue): \($0.versions)" }.joined(separator: "; ")); internal_error and the rest cannot be sent after the handshake), then optionally cleartext and a close"
        case .tlsTruncatedRecord: "that side's next TLS record is cut short, then its stream ends (FIN)"
        case .tlsBadRecord: "one octet of that side's next TLS record flips, so its MAC fails"
        case .tlsRecordSize: "that side's application data goes in TLS records of at most N octets (down to 1)"
        case .tlsKeyUpdate: "that side sends a TLS 1.3 KeyUpdate, asking the peer to update too with request-update"
        case .tlsRenegotiate: "that side starts a TLS 1.2 renegotiation (server: HelloRequest; client: a new ClientHello)"
        case .plaintextAfterTLS: "cleartext octets on that side's stream while TLS is up, without close_notify"
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
    /// That side's TLS sends close_notify, then `then` (docs/catalog.md I1, I2).
    case tlsCloseNotify(from: Side, then: TLSAftermath)
    /// That side's TLS sends this fatal alert, then `then` (docs/catalog.md I5).
    case tlsAlert(from: Side, TLSSessionAlert, then: TLSAftermath)
    /// That side's next record is cut short, then its stream ends.
    case tlsTruncatedRecord(from: Side)
    /// One octet of that side's next record flips (the peer's MAC check fails).
    case tlsBadRecord(from: Side)
    /// Application data in records of at most `octets` (nil side: both).
    case tlsRecordSize(from: Side?, octets: Int)
    /// A TLS 1.3 KeyUpdate (RFC 8446 §4.6.3), with update_requested when `requestUpdate`.
    case tlsKeyUpdate(from: Side, requestUpdate: Bool)
    /// A TLS 1.2 renegotiation (RFC 5746).
    case tlsRenegotiate(from: Side)
    /// Cleartext octets on that side's stream while TLS is up (docs/catalog.md I3).
    case plaintextAfterTLS(from: Side, bytes: String)

    /// The side a TLS session fault acts from; nil for the faults of links and connections.
    public var side: Side? {
        switch self {
        case .tlsCloseNotify(let s, _), .tlsAlert(let s, _, _), .tlsTruncatedRecord(let s), .tlsBadRecord(let s), .tlsKeyUpdate(let s, _),
            .tlsRenegotiate(let s), .plaintextAfterTLS(let s, _):
            s
        case .tlsRecordSize(let s, _): s
        default: nil
        }
    }

    /// The same fault acting from `side` (faults without a side are as they are).
    public func from(_ side: Side) -> FaultEffect {
        switch self {
        case .tlsCloseNotify(_, let then): .tlsCloseNotify(from: side, then: then)
        case .tlsAlert(_, let alert, let then): .tlsAlert(from: side, alert, then: then)
        case .tlsTruncatedRecord: .tlsTruncatedRecord(from: side)
        case .tlsBadRecord: .tlsBadRecord(from: side)
        case .tlsRecordSize(_, let n): .tlsRecordSize(from: side, octets: n)
        case .tlsKeyUpdate(_, let request): .tlsKeyUpdate(from: side, requestUpdate: request)
        case .tlsRenegotiate: .tlsRenegotiate(from: side)
        case .plaintextAfterTLS(_, let bytes): .plaintextAfterTLS(from: side, bytes: bytes)
        default: self
        }
    }
}

/// What a side does on its stream after its TLS session ended (a close_notify or alert fault).
public struct TLSAftermath: Hashable, Sendable, Codable {
    /// Cleartext octets sent next (the CVE-2026-45185 pattern: one is enough).
    public var plaintext: String?
    /// Then the side closes its stream (a FIN).
    public var close: Bool

    public init(plaintext: String? = nil, close: Bool = false) {
        self.plaintext = plaintext
        self.close = close
    }
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
        case .tlsCloseNotify: .tlsCloseNotify
        case .tlsAlert: .tlsAlert
        case .tlsTruncatedRecord: .tlsTruncatedRecord
        case .tlsBadRecord: .tlsBadRecord
        case .tlsRecordSize: .tlsRecordSize
        case .tlsKeyUpdate: .tlsKeyUpdate
        case .tlsRenegotiate: .tlsRenegotiate
        case .plaintextAfterTLS: .plaintextAfterTLS
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
