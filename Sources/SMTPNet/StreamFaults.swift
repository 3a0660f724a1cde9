import EndpointHosting

/// Faults a real socket can carry out on the side smtpsim plays (`serve`, `send`): the subset of
/// the simulator's link faults that mean something on one end of a real TCP stream. Where they
/// strike is decided by the same `TriggerTracker` the simulator consults.
public struct StreamFaults: Hashable, Sendable {
    /// Each write leaves in segments of at most this many octets (TCP_NODELAY, one flush each).
    public var maxSegment: Int?
    /// Wait this long (nanoseconds) before each segment.
    public var delay: Int64 = 0
    /// The triggered faults (stall, reset, async-421), in the order given; each strikes once, at
    /// its trigger (connection-opened when it names none). `actions[k]` is what `rules[k]` does.
    public private(set) var rules: [FaultRule] = []
    public private(set) var actions: [Action] = []

    /// What a triggered fault does on one end of a real stream.
    public enum Action: Hashable, Sendable {
        /// A TCP RST.
        case reset
        /// Writes wait this many nanoseconds.
        case stall(duration: Int64)
        /// The server sends 421 and closes (RFC 5321 §3.8).
        case shutdown
        /// This side's TLS performs a session event, then `then` (docs/catalog.md I).
        case session(TLSSessionEvent, then: TLSAftermath)
        /// Cleartext octets on the stream while TLS is up.
        case cleartext([UInt8])
        /// Application data in records of at most this many octets from here on.
        case recordSize(Int)

        /// The event ends this side's TLS session (the rest of a write it cuts is not sent).
        var endsSession: Bool {
            if case .session(let event, _) = self { return event.endsSession }
            return false
        }
    }

    /// Record size for the whole TLS session (`tls-record-size` without `at`).
    public var recordSize: Int?

    public init() {}

    /// The faults of a scenario (or the command line) that apply to `side` on connection number
    /// `connection` (1-based; nil: any) over a real socket; throws a one-line reason for any that
    /// only the simulator can do.
    public init(rules given: [FaultRule], side: Side, connection: Int? = nil) throws(NetError) {
        for rule in given {
            if let connection, !rule.applies(to: connection) { continue }
            if let d = rule.direction, d != side.writes { continue }
            let onlySimulated = "fault '\(rule)' is simulation-only; over a real socket smtpsim can split, delay (latency), stall, reset\(side == .server ? ", send 421 (async-421)" : ""), and from its own side tls-close-notify, tls-alert, tls-key-update, tls-renegotiate, tls-record-size, plaintext-after-tls"
            var shape = LinkShape()
            if shape.apply(rule.effect) {
                // A socket can segment and delay its own writes; the rest of a link's shape is the network's.
                guard shape.coalesceWindow == 0, shape.corruption == nil, shape.resetChance == nil else { throw .setup(onlySimulated) }
                if shape.maxSegment != .max { maxSegment = shape.maxSegment }
                if shape.latency != 0...0 { delay = (shape.latency.lowerBound + shape.latency.upperBound) / 2 }
                continue
            }
            guard let step = rule.effect.step else { continue }
            switch step {
            case .stall(let duration):
                add(rule, .stall(duration: duration))
            case .reset:
                add(rule, .reset)
            case .shutdown where side == .server:
                add(rule, .shutdown)
            case .session(side, let event, let then):
                add(rule, .session(event, then: then))
            case .cleartext(side, let bytes):
                add(rule, .cleartext(bytes))
            case .recordSize(let from, let octets) where from == nil || from == side:
                if rule.at == nil { recordSize = octets } else { add(rule, .recordSize(octets)) }
            case .session, .cleartext, .recordSize:
                throw .setup("fault '\(rule)' acts from the other side; over a real socket smtpsim performs TLS session events only from its own (from: \(side.rawValue))")
            case .shutdown, .refuse, .connectTimeout, .finish, .blackhole, .failHandshake, .damageRecord, .replaceWrite:
                throw .setup(onlySimulated)
            }
        }
    }

    /// The rule as this stream carries it out: at its trigger (connection-opened when it names
    /// none), its occurrence kept; connections and direction were settled when it was chosen.
    private mutating func add(_ rule: FaultRule, _ action: Action) {
        rules.append(FaultRule(rule.effect, at: rule.at ?? .connectionOpened, occurrence: rule.occurrence))
        actions.append(action)
    }
}
