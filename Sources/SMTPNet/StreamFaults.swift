import EndpointHosting

/// Faults a real socket can carry out on the side smtpsim plays (`serve`, `send`): the subset of
/// the simulator's link faults that mean something on one end of a real TCP stream.
public struct StreamFaults: Hashable, Sendable {
    /// Each write leaves in segments of at most this many octets (TCP_NODELAY, one flush each).
    public var maxSegment: Int?
    /// Wait this long (nanoseconds) before each segment.
    public var delay: Int64 = 0
    /// Hold the writes for a while once the trigger fires.
    public var stall: Stall?
    /// Break the connection (TCP RST) when the trigger fires.
    public var resetAt: Trigger?
    /// The server sends 421 and closes when the trigger fires (serve only).
    public var shutdownAt: Trigger?

    public struct Stall: Hashable, Sendable {
        public var at: Trigger
        /// Nanoseconds.
        public var duration: Int64
        public init(at: Trigger, duration: Int64) {
            self.at = at
            self.duration = duration
        }
    }

    public init() {}

    /// The faults of a scenario (or the command line) that apply to `side` on connection number
    /// `connection` (1-based; nil: any) over a real socket; throws a one-line reason for any that
    /// only the simulator can do.
    public init(rules: [FaultRule], side: Side, connection: Int? = nil) throws(NetError) {
        for rule in rules {
            if let connection, !rule.applies(to: connection) { continue }
            if let d = rule.direction, d != (side == .server ? .serverToClient : .clientToServer) { continue }
            switch rule.effect {
            case .split(let n): maxSegment = n
            case .latency(let lo, let hi): delay = (lo + hi) / 2
            case .stall(let duration): stall = Stall(at: rule.at ?? .connectionOpened, duration: duration)
            case .reset: resetAt = rule.at ?? .connectionOpened
            case .async421 where side == .server: shutdownAt = rule.at ?? .connectionOpened
            case .async421, .coalesce, .resetProbability, .halfClose, .truncate, .corrupt, .replaceReply, .failHandshake, .refuseConnection, .connectTimeout:
                throw .setup("fault '\(rule)' is simulation-only; over a real socket smtpsim can split, delay (latency), stall, reset\(side == .server ? " and send 421 (async-421)" : "")")
            }
        }
    }
}

/// Watches one side's traffic for the moment a fault trigger names (sans-IO: fed every plaintext
/// write and read, every STARTTLS and handshake octet).
struct TriggerWatch {
    let trigger: Trigger
    let side: Side
    private(set) var fired = false
    private var saw354 = false
    private var sawFinalDot = false
    private var handshakeOctets = 0
    /// Recent plaintext per side, so a pattern split across writes is still found (bounded).
    private var tail: [Side: [UInt8]] = [:]

    init(_ trigger: Trigger, side: Side) {
        self.trigger = trigger
        self.side = side
    }

    enum Verdict: Equatable {
        case no
        /// Fire after this many octets of the current write (nil: after the whole write).
        case yes(afterOctets: Int?)
    }

    mutating func connectionOpened() -> Bool { fire(if: trigger.resolved == .connectionOpened) }
    mutating func tlsStarted() -> Bool { fire(if: trigger.resolved == .tlsStarted) }

    /// Handshake ciphertext the server sent (counted on whichever side smtpsim plays).
    mutating func handshake(octets: Int) -> Verdict {
        guard !fired, case .handshakeBytes(let limit) = trigger.resolved else { return .no }
        let before = handshakeOctets
        handshakeOctets += octets
        guard handshakeOctets >= limit else { return .no }
        fired = true
        return .yes(afterOctets: limit - before)
    }

    /// Plaintext written by `writer` (epoch 0 before TLS, 1 inside).
    mutating func plaintext(_ bytes: [UInt8], by writer: Side, epoch: Int) -> Verdict {
        guard !fired else { return .no }
        defer { track(bytes, by: writer) }
        switch trigger.resolved {
        case .write(let s, let pattern, let cut, let e):
            guard s == writer, e.map({ $0 == epoch }) ?? true else { return .no }
            let needle = Array(pattern.utf8)
            let window = (tail[writer] ?? []) + bytes
            guard let end = Self.find(needle, in: window) else { return .no }
            fired = true
            let carried = window.count - bytes.count
            return .yes(afterOctets: cut == .afterMatch ? max(0, end - carried) : nil)
        case .midBody:
            guard writer == .client, saw354 else { return .no }
            fired = true
            return .yes(afterOctets: max(1, bytes.count / 2))
        case .finalReply:
            guard writer == .server, sawFinalDot else { return .no }
            fired = true
            return .yes(afterOctets: 0)
        case .connectionOpened, .atTime, .tlsStarted, .handshakeBytes, .phase:
            return .no
        }
    }

    private mutating func track(_ bytes: [UInt8], by writer: Side) {
        var t = (tail[writer] ?? []) + bytes
        if t.count > 64 { t.removeFirst(t.count - 64) }
        tail[writer] = t
        if writer == .server, Self.find(Array("354".utf8), in: t) != nil { saw354 = true }
        if writer == .client, saw354, Self.find(Array("\r\n.\r\n".utf8), in: t) != nil { sawFinalDot = true }
    }

    private mutating func fire(if condition: Bool) -> Bool {
        guard !fired, condition else { return false }
        fired = true
        return true
    }

    /// Index just past the first occurrence of `needle`.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return start + needle.count }
        }
        return nil
    }
}
