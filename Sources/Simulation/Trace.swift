import EndpointHosting
import SMTPTLS

/// One thing that happened in a run. The trace is the run's record: its digest proves two runs
/// were the same, and its text form is what a person reads.
public struct TraceEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// A connection was opened (client index, attempt).
        case connect(client: Int, attempt: Int)
        /// Bytes handed to a link by a side (`epoch` 0 = plaintext, 1 = TLS records).
        case sent(Direction, epoch: Int, bytes: [UInt8])
        /// Bytes delivered by a link to the other side.
        case delivered(Direction, epoch: Int, bytes: [UInt8])
        /// Application plaintext a side wrote (inside TLS this is what the records carry).
        case plaintext(Direction, epoch: Int, bytes: [UInt8])
        /// Application octets a side read, travelling in `Direction` (inside TLS, decrypted): what
        /// reached the endpoint, after faults and the attacker (expectations judge this).
        case received(Direction, epoch: Int, bytes: [UInt8])
        case fault(name: String, detail: String)
        case attack(name: String, detail: String)
        /// A side's TLS handshake finished (`detail`: version and suite, or the failure).
        case tls(side: String, ok: Bool, detail: String)
        /// A side closed, or saw the other side close.
        case closed(side: String, detail: String)
        /// A machine's observation (commands, notes).
        case note(side: String, text: String)
        case outcome(message: String, status: String, detail: String)
        case finding(Finding)
    }

    /// Position in the trace.
    public let index: Int
    /// Simulated nanoseconds since the start of the run.
    public let time: Int64
    /// The connection it belongs to (0 for run-wide events).
    public let connection: Int
    public let kind: Kind

    /// One line for people (long byte runs abbreviated).
    public var text: String { text(limit: 120) }

    /// One line with every octet of a write or a read (what `trace-contains` matches).
    public var fullText: String { text(limit: .max) }

    func text(limit: Int) -> String {
        let t = Self.formatTime(time)
        let c = connection > 0 ? "#\(connection) " : ""
        switch kind {
        case .connect(let client, let attempt): return "\(t) \(c)connect client \(client) attempt \(attempt)"
        case .sent(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) send \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, epoch, limit: limit))"
        case .delivered(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) recv \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, epoch, limit: limit))"
        case .plaintext(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) \(epoch == 1 ? "tls-plaintext" : "plaintext") \(Self.preview(bytes, 0, limit: limit))"
        case .received(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) read \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, 0, limit: limit))"
        case .fault(let name, let detail): return "\(t) \(c)FAULT \(name): \(detail)"
        case .attack(let name, let detail): return "\(t) \(c)ATTACK \(name): \(detail)"
        case .tls(let side, let ok, let detail): return "\(t) \(c)\(side) tls \(ok ? "established" : "failed"): \(detail)"
        case .closed(let side, let detail): return "\(t) \(c)\(side) closed: \(detail)"
        case .note(let side, let text): return "\(t) \(c)\(side) \(text)"
        case .outcome(let message, let status, let detail): return "\(t) \(c)outcome \(message): \(status) — \(detail)"
        case .finding(let f): return "\(t) \(c)FINDING \(f.label): \(f.explanation) [\(f.reference)]"
        }
    }

    /// The canonical bytes the digest is computed over (stable across runs, processes, builds).
    var canonical: [UInt8] {
        var out = Array("\(index)|\(time)|\(connection)|".utf8)
        switch kind {
        case .sent(let d, let epoch, let bytes): out += Array("sent|\(d.rawValue)|\(epoch)|".utf8) + bytes
        case .delivered(let d, let epoch, let bytes): out += Array("delivered|\(d.rawValue)|\(epoch)|".utf8) + bytes
        case .plaintext(let d, let epoch, let bytes): out += Array("plaintext|\(d.rawValue)|\(epoch)|".utf8) + bytes
        case .received(let d, let epoch, let bytes): out += Array("received|\(d.rawValue)|\(epoch)|".utf8) + bytes
        case .connect, .fault, .attack, .tls, .closed, .note, .outcome, .finding: out += Array(text.utf8)
        }
        out.append(0x0A)
        return out
    }

    public static func formatTime(_ ns: Int64) -> String {
        let ms = ns / 1_000_000
        let s = ms / 1000
        let rest = ms % 1000
        let pad = rest < 10 ? "00" : rest < 100 ? "0" : ""
        return "\(s).\(pad)\(rest)s"
    }

    /// Bytes as readable text: CR and LF escaped, other control and 8-bit bytes as `\xNN`;
    /// empty for TLS records (epoch 1), whose bytes mean nothing to a reader.
    public static func preview(_ bytes: [UInt8], _ epoch: Int, limit: Int = 120) -> String {
        BytePreview.text(bytes, epoch: epoch, limit: limit)
    }
}

/// The typed record of a run.
public struct Trace: Sendable {
    public private(set) var events: [TraceEvent] = []

    public init() {}

    mutating func append(time: Int64, connection: Int, _ kind: TraceEvent.Kind) {
        events.append(TraceEvent(index: events.count, time: time, connection: connection, kind: kind))
    }

    /// SHA-256 over every event's canonical form, TLS bytes included.
    public var digest: String {
        var all: [UInt8] = []
        for e in events { all += e.canonical }
        return Digest.sha256Hex(all)
    }

    public var text: String { events.map(\.text).joined(separator: "\n") }

    /// Every octet a side read on `connection`, travelling in `direction` (all epochs, in order).
    public func received(_ direction: Direction, on connection: Int) -> [UInt8] { stream(direction, on: connection, read: true) }

    /// Every octet a side wrote on `connection` in `direction` (all epochs, in order).
    public func written(_ direction: Direction, on connection: Int) -> [UInt8] { stream(direction, on: connection, read: false) }

    private func stream(_ direction: Direction, on connection: Int, read: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for e in events where e.connection == connection {
            if read, case .received(direction, _, let bytes) = e.kind { out += bytes }
            if !read, case .plaintext(direction, _, let bytes) = e.kind { out += bytes }
        }
        return out
    }

    /// The connections that appear in the trace.
    public var connectionIDs: [Int] {
        var ids: [Int] = []
        for e in events where e.connection > 0 && !ids.contains(e.connection) { ids.append(e.connection) }
        return ids
    }

    /// The first event where two traces differ (docs/design.md: "the check names the first divergent
    /// event"), or nil when they are identical.
    public static func firstDivergence(_ a: Trace, _ b: Trace) -> (index: Int, left: String?, right: String?)? {
        let n = max(a.events.count, b.events.count)
        for i in 0..<n {
            let l = i < a.events.count ? a.events[i] : nil
            let r = i < b.events.count ? b.events[i] : nil
            if l?.canonical != r?.canonical { return (i, l?.text, r?.text) }
        }
        return nil
    }

    public var findings: [Finding] {
        events.compactMap { if case .finding(let f) = $0.kind { f } else { nil } }
    }
}
