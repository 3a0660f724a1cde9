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
        case .sent(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) send \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, epoch, limit: limit))"
        case .delivered(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) recv \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, epoch, limit: limit))"
        case .plaintext(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) \(epoch == 1 ? "tls-plaintext" : "plaintext") \(Self.preview(bytes, 0, limit: limit))"
        case .received(let d, let epoch, let bytes): return "\(t) \(c)\(d.rawValue) read \(bytes.count)B\(BytePreview.label(epoch: epoch)) \(Self.preview(bytes, 0, limit: limit))"
        case .connect, .fault, .attack, .tls, .closed, .note, .outcome, .finding:
            var line: [UInt8] = []
            writeLine(into: &line)
            return String(decoding: line, as: UTF8.self)
        }
    }

    /// The text line of an event that carries no octets, written as UTF-8 without building
    /// strings (the digest hashes it on every run; `text` reads it back for people).
    private func writeLine(into out: inout [UInt8]) {
        Self.writeTime(time, into: &out)
        out.append(0x20)
        if connection > 0 {
            out.append(UInt8(ascii: "#"))
            Self.writeDecimal(connection, into: &out)
            out.append(0x20)
        }
        switch kind {
        case .connect(let client, let attempt):
            out += "connect client ".utf8
            Self.writeDecimal(client, into: &out)
            out += " attempt ".utf8
            Self.writeDecimal(attempt, into: &out)
        case .fault(let name, let detail): out += "FAULT ".utf8; out += name.utf8; out += ": ".utf8; out += detail.utf8
        case .attack(let name, let detail): out += "ATTACK ".utf8; out += name.utf8; out += ": ".utf8; out += detail.utf8
        case .tls(let side, let ok, let detail):
            out += side.utf8; out += (ok ? " tls established: " : " tls failed: ").utf8; out += detail.utf8
        case .closed(let side, let detail): out += side.utf8; out += " closed: ".utf8; out += detail.utf8
        case .note(let side, let text): out += side.utf8; out.append(0x20); out += text.utf8
        case .outcome(let message, let status, let detail):
            out += "outcome ".utf8; out += message.utf8; out += ": ".utf8; out += status.utf8; out += " — ".utf8; out += detail.utf8
        case .finding(let f):
            out += "FINDING ".utf8; out += f.label.utf8; out += ": ".utf8; out += f.explanation.utf8
            out += " [".utf8; out += f.reference.utf8; out.append(UInt8(ascii: "]"))
        case .sent, .delivered, .plaintext, .received:
            out += text.utf8
        }
    }

    /// The canonical bytes the digest is computed over (stable across runs, processes, builds).
    var canonical: [UInt8] {
        var out: [UInt8] = []
        writeCanonical(into: &out)
        return out
    }

    /// Appends the canonical form: `index|time|connection|`, then the direction, epoch and every
    /// octet of a write or a read, or the text line of any other event; then LF.
    func writeCanonical(into out: inout [UInt8]) {
        Self.writeDecimal(index, into: &out)
        out.append(UInt8(ascii: "|"))
        Self.writeDecimal(time, into: &out)
        out.append(UInt8(ascii: "|"))
        Self.writeDecimal(connection, into: &out)
        out.append(UInt8(ascii: "|"))
        func octets(_ name: String, _ d: Direction, _ epoch: Int, _ bytes: [UInt8]) {
            out += name.utf8
            out.append(UInt8(ascii: "|"))
            out += d.rawValue.utf8
            out.append(UInt8(ascii: "|"))
            Self.writeDecimal(epoch, into: &out)
            out.append(UInt8(ascii: "|"))
            out += bytes
        }
        switch kind {
        case .sent(let d, let epoch, let bytes): octets("sent", d, epoch, bytes)
        case .delivered(let d, let epoch, let bytes): octets("delivered", d, epoch, bytes)
        case .plaintext(let d, let epoch, let bytes): octets("plaintext", d, epoch, bytes)
        case .received(let d, let epoch, let bytes): octets("received", d, epoch, bytes)
        case .connect, .fault, .attack, .tls, .closed, .note, .outcome, .finding: writeLine(into: &out)
        }
        out.append(0x0A)
    }

    /// Decimal digits of `value` (a minus sign first when negative).
    static func writeDecimal<I: BinaryInteger>(_ value: I, into out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        if magnitude < 10 {
            out.append(UInt8(ascii: "0") &+ UInt8(magnitude))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            while magnitude > 0 {
                i -= 1
                digits[i] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    /// `formatTime` as UTF-8.
    static func writeTime(_ ns: Int64, into out: inout [UInt8]) {
        let ms = ns / 1_000_000
        let rest = ms % 1000
        writeDecimal(ms / 1000, into: &out)
        out.append(UInt8(ascii: "."))
        if rest < 100 { out.append(UInt8(ascii: "0")) }
        if rest < 10 { out.append(UInt8(ascii: "0")) }
        writeDecimal(rest, into: &out)
        out.append(UInt8(ascii: "s"))
    }

    public static func formatTime(_ ns: Int64) -> String {
        var out: [UInt8] = []
        writeTime(ns, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes as readable text: CR and LF escaped, other control and 8-bit bytes as `\xNN`;
    /// empty for TLS records (epoch 1), whose bytes mean nothing to a reader.
    public static func preview(_ bytes: [UInt8], _ epoch: Int, limit: Int = 120) -> String {
        BytePreview.text(bytes, epoch: epoch, limit: limit)
    }
}

/// How much of a run its trace records.
public enum TraceDetail: Sendable {
    /// Every event, kept (text, HTML, pcap, and the expectations on what was written or read);
    /// the digest as well.
    case events
    /// The digest only: every event goes into a streaming SHA-256 as it happens and is dropped.
    case digest
    /// Neither: the events are counted (sweeps and the bench read verdicts only).
    case count

    var keepsEvents: Bool { self == .events }
    var hashes: Bool { self != .count }
}

/// The typed record of a run. The digest is the same whether or not the events are kept
/// (docs/design.md: the scenario-digest fixture holds both).
public struct Trace: Sendable {
    /// The events, in order; empty unless the detail is `.events`.
    public private(set) var events: [TraceEvent] = []
    public let detail: TraceDetail
    /// Events recorded (kept or not).
    public private(set) var count = 0
    private var hash = SHA256Stream()
    /// Canonical bytes not hashed yet: hashed in parts of `hashChunk`, so an event costs one copy
    /// into this buffer, not a call into OpenSSL.
    private var pending: [UInt8] = []
    static let hashChunk = 16 * 1024

    public init(detail: TraceDetail = .events) {
        self.detail = detail
        if detail.hashes { pending.reserveCapacity(Self.hashChunk + 512) }
    }

    public var keepsEvents: Bool { detail.keepsEvents }

    mutating func append(time: Int64, connection: Int, _ kind: @autoclosure () -> TraceEvent.Kind) {
        if detail.hashes {
            let event = TraceEvent(index: count, time: time, connection: connection, kind: kind())
            event.writeCanonical(into: &pending)
            if pending.count >= Self.hashChunk {
                hash.update(pending)
                pending.removeAll(keepingCapacity: true)
            }
            if detail.keepsEvents { events.append(event) }
        }
        count += 1
    }

    /// SHA-256 over every event's canonical form, TLS bytes included, kept or not; nil when the
    /// trace only counts.
    public var digest: String? {
        guard detail.hashes else { return nil }
        var all = hash
        all.update(pending)
        return Digest.hex(all.finish())
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

}
