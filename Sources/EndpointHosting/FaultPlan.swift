import SMTPCore
import SMTPTLS

/// The fault plan: the one meaning of every `FaultEffect` (issue 28). A fault is either a shape of
/// the link it applies to (`LinkShape`: every write in its direction while faults are active) or
/// a step (`FaultStep`) that a transport carries out when the fault's trigger fires: the World's
/// links in virtual time, a real socket (`serve`, `send`), the proxy's two sessions. Transports
/// switch over the steps, never over the faults, and each states which steps it can carry
/// (the others are refused by name before anything runs).

/// What a fault does to a connection when its trigger fires.
public enum FaultStep: Hashable, Sendable {
    /// The connection attempt is refused outright.
    case refuse
    /// The connection attempt gets no answer for this many nanoseconds, then fails.
    case connectTimeout(Int64)
    /// The connection is reset (a TCP RST).
    case reset
    /// One direction closes in order (FIN) once what it already carries has arrived.
    case finish(Direction)
    /// Everything in one direction is dropped from here on, without any close.
    case blackhole(Direction)
    /// Writes wait this many nanoseconds (the rule's direction says whose; a write's trigger
    /// holds that write's direction).
    case stall(Int64)
    /// The server sends 421 and closes (RFC 5321 §3.8).
    case shutdown
    /// The client's TLS handshake fails with this failure class, whatever OpenSSL says.
    case failHandshake(TLSFailure.Kind)
    /// That side's TLS performs a session event, then what follows on its stream
    /// (docs/catalog.md I1, I2, I4, I5).
    case session(Side, TLSSessionEvent, then: TLSAftermath)
    /// Cleartext octets on that side's stream while TLS is up (docs/catalog.md I3).
    case cleartext(Side, [UInt8])
    /// That side's next TLS record is damaged.
    case damageRecord(Side, RecordDamage)
    /// Application data in records of at most this many octets (nil side: both).
    case recordSize(Side?, Int)
    /// The write that triggered the fault is replaced by these octets.
    case replaceWrite([UInt8])

    /// When a step triggered by a side's write happens.
    public enum Timing: Hashable, Sendable {
        /// At once: before the triggering write leaves (it may change the write).
        case atOnce
        /// Once the octets written before the trigger have arrived; `cuts`: the rest of the
        /// triggering write is lost (a reset after the final dot lets the dot arrive and loses
        /// the reply; a side's own close_notify ends what it was writing).
        case afterPrecedingOctets(cuts: Bool)
    }

    /// When this step happens when `writer`'s write triggers it.
    public func timing(triggeredBy writer: Side) -> Timing {
        switch self {
        case .reset, .finish, .blackhole, .shutdown: .afterPrecedingOctets(cuts: true)
        case .session(let side, let event, _): .afterPrecedingOctets(cuts: event.endsSession && side == writer)
        case .cleartext: .afterPrecedingOctets(cuts: false)
        case .refuse, .connectTimeout, .stall, .failHandshake, .damageRecord, .recordSize, .replaceWrite: .atOnce
        }
    }

    /// Whether the step ends a side's TLS session (close_notify or a fatal alert).
    public var endsTLSSession: Bool {
        if case .session(_, let event, _) = self { return event.endsSession }
        return false
    }
}

extension TLSSessionEvent {
    /// Whether the event ends the session that performs it.
    public var endsSession: Bool {
        switch self {
        case .closeNotify, .alert: true
        case .keyUpdate, .renegotiate: false
        }
    }
}

/// The shape of one direction of a link while faults are active: what every write meets.
public struct LinkShape: Hashable, Sendable {
    /// Each write's delay is drawn from this range (nanoseconds).
    public var latency: ClosedRange<Int64> = 0...0
    /// Writes leave in segments of at most this many octets.
    public var maxSegment = Int.max
    /// Writes within this window (nanoseconds) leave as one segment (0: none).
    public var coalesceWindow: Int64 = 0
    /// Each plaintext segment has one octet changed with this probability.
    public var corruption: Ratio?
    /// Each segment resets the connection with this probability.
    public var resetChance: Ratio?

    public init() {}

    /// The shape the untriggered rules give direction `direction` of connection number
    /// `connection` (1-based; nil: any).
    public init(_ rules: [FaultRule], direction: Direction, connection: Int?) {
        for rule in rules where rule.at == nil && rule.applies(to: direction) && (connection.map { rule.applies(to: $0) } ?? true) {
            apply(rule.effect)
        }
    }

    /// Whether the fault is a shape of the link (rather than a step); applies it when it is.
    @discardableResult
    public mutating func apply(_ effect: FaultEffect) -> Bool {
        switch effect {
        case .latency(let lo, let hi): latency = lo...max(lo, hi)
        case .split(let n): maxSegment = min(maxSegment, max(1, n))
        case .coalesce(let w): coalesceWindow = w
        case .corrupt(let r): corruption = r
        case .resetProbability(let r): resetChance = r
        default: return false
        }
        return true
    }

    /// Whether the shape changes nothing.
    public var isPlain: Bool { self == LinkShape() }
}

extension FaultEffect {
    /// What the fault does when its trigger fires; nil for a shape of the link (`LinkShape`).
    public var step: FaultStep? {
        switch self {
        case .latency, .split, .coalesce, .corrupt, .resetProbability: nil
        case .refuseConnection: .refuse
        case .connectTimeout(let after): .connectTimeout(after)
        case .reset: .reset
        case .halfClose(let d): .finish(d)
        case .truncate(let d): .blackhole(d)
        case .stall(let duration): .stall(duration)
        case .async421: .shutdown
        case .failHandshake(let kind): .failHandshake(kind)
        case .replaceReply(let text): .replaceWrite(Array(text.utf8))
        case .tlsCloseNotify(let s, let then): .session(s, .closeNotify, then: then)
        case .tlsAlert(let s, let alert, let then): .session(s, .alert(alert), then: then)
        case .tlsKeyUpdate(let s, let requesting): .session(s, .keyUpdate(requestingPeerUpdate: requesting), then: TLSAftermath())
        case .tlsRenegotiate(let s): .session(s, .renegotiate, then: TLSAftermath())
        case .plaintextAfterTLS(let s, let bytes): .cleartext(s, Array(bytes.utf8))
        case .tlsTruncatedRecord(let s): .damageRecord(s, .truncate)
        case .tlsBadRecord(let s): .damageRecord(s, .flip)
        case .tlsRecordSize(let s, let octets): .recordSize(s, octets)
        }
    }
}
