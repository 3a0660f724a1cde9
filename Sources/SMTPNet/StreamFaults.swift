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
            switch self {
            case .session(.closeNotify, _), .session(.alert, _): true
            default: false
            }
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
            switch rule.effect {
            case .split(let n): maxSegment = n
            case .latency(let lo, let hi): delay = (lo + hi) / 2
            case .stall(let duration):
                add(rule, .stall(duration: duration))
            case .reset:
                add(rule, .reset)
            case .async421 where side == .server:
                add(rule, .shutdown)
            case .tlsCloseNotify(side, _), .tlsAlert(side, _, _), .tlsKeyUpdate(side, _), .tlsRenegotiate(side):
                if let s = rule.effect.sessionEvent { add(rule, .session(s.event, then: s.then)) }
            case .plaintextAfterTLS(side, let bytes):
                add(rule, .cleartext(Array(bytes.utf8)))
            case .tlsRecordSize(let from, let octets) where from == nil || from == side:
                if rule.at == nil { recordSize = octets } else { add(rule, .recordSize(octets)) }
            case .tlsCloseNotify, .tlsAlert, .tlsKeyUpdate, .tlsRenegotiate, .plaintextAfterTLS, .tlsRecordSize:
                throw .setup("fault '\(rule)' acts from the other side; over a real socket smtpsim performs TLS session events only from its own (from: \(side.rawValue))")
            case .async421, .coalesce, .resetProbability, .halfClose, .truncate, .corrupt, .replaceReply, .failHandshake, .refuseConnection, .connectTimeout,
                .tlsTruncatedRecord, .tlsBadRecord:
                throw .setup("fault '\(rule)' is simulation-only; over a real socket smtpsim can split, delay (latency), stall, reset\(side == .server ? ", send 421 (async-421)" : ""), and from its own side tls-close-notify, tls-alert, tls-key-update, tls-renegotiate, tls-record-size, plaintext-after-tls")
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
