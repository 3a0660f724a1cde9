import EndpointHosting
import Foundation

/// What happened on one real connection, as data: every `WireEvent` with the seconds since the
/// connection began (octets as text, and how many, by layer), and the findings against the
/// peer. `send --format json` and `serve --record` write it; the dialogue is its text rendering.
public final class SessionRecord: @unchecked Sendable {
    /// One event: what went out or came in, or a TLS, fault, note or finding line.
    public struct Entry: Codable, Hashable, Sendable {
        public var seconds: Double
        public var event: String
        public var layer: String?
        public var octets: Int?
        public var text: String
    }

    /// A finding as JSON: the oracle, the side at fault, why, the reference, and the index of the
    /// event that shows it (in `events`).
    public struct FindingEntry: Codable, Hashable, Sendable {
        public var oracle: String
        public var side: String?
        public var explanation: String
        public var reference: String
        public var event: Int

        public init(_ f: Finding) {
            oracle = f.oracle.rawValue
            side = f.side?.rawValue
            explanation = f.explanation
            reference = f.reference
            event = f.eventIndex
        }
    }

    /// The document `serve --record DIR` writes per connection (`DIR/C1.json`; beside it `C1.log`,
    /// `C1.pcap` and, when TLS was used, `C1.keylog`).
    public struct Document: Codable, Sendable {
        public var connection: String
        public var peer: String
        public var end: String
        public var findings: [FindingEntry]
        public var events: [Entry]
    }

    private let lock = NSLock()
    private let start = ContinuousClock.now
    /// The Unix second the record began (the pcap's time zero).
    private let began = Int64(Date().timeIntervalSince1970)
    private var storage: [(seconds: Double, event: WireEvent)] = []

    public init() {}

    /// Octets on the wire, with their seconds and direction (the server's view: `outgoing` is
    /// the server's).
    private var wire: [(seconds: Double, outgoing: Bool, bytes: [UInt8])] = []

    /// Octets the session put on the wire or read from it.
    public func wire(outgoing: Bool, _ bytes: [UInt8]) {
        let seconds = (ContinuousClock.now - start).inSeconds
        lock.withLock { wire.append((seconds, outgoing, bytes)) }
    }

    /// The connection as a pcap (`PcapWriter`): opened, every segment, closed; `server` says
    /// which side this end played.
    public func pcap(server: Bool) -> [UInt8] {
        let segments = lock.withLock { wire }
        var events: [PcapWriter.Event] = [.open(id: 1, time: 0)]
        for s in segments {
            events.append(.segment(id: 1, time: Int64(s.seconds * 1e9), fromClient: s.outgoing != server, bytes: s.bytes))
        }
        events.append(.close(id: 1, time: Int64((segments.last?.seconds ?? 0) * 1e9), fromClient: false, reset: false))
        return PcapWriter(epoch: began).pcap(events)
    }

    /// Events arrive on the session's task; any task may read.
    public func record(_ event: WireEvent) {
        let seconds = (ContinuousClock.now - start).inSeconds
        lock.withLock { storage.append((seconds, event)) }
    }

    public var entries: [Entry] {
        lock.withLock { storage }.map { seconds, event in
            switch event {
            case .sent(let bytes, let tls): Entry(seconds: seconds, event: "sent", layer: tls ? "tls" : "plaintext", octets: bytes.count, text: String(decoding: bytes, as: UTF8.self))
            case .received(let bytes, let tls): Entry(seconds: seconds, event: "received", layer: tls ? "tls" : "plaintext", octets: bytes.count, text: String(decoding: bytes, as: UTF8.self))
            case .tls(let line): Entry(seconds: seconds, event: "tls", text: line)
            case .fault(let line): Entry(seconds: seconds, event: "fault", text: line)
            case .note(let line): Entry(seconds: seconds, event: "note", text: line)
            case .finding(let finding): Entry(seconds: seconds, event: "finding", text: finding.summary)
            }
        }
    }

    /// The dialogue (`Dialogue`'s `C:`/`S:` lines), each line with its seconds.
    public func dialogue(ours: Dialogue.Side) -> String {
        let d = Dialogue(ours: ours)
        return lock.withLock { storage }.flatMap { seconds, event in d.lines(event).map { String(format: "%8.3f ", seconds) + $0 } }.joined(separator: "\n") + "\n"
    }

    /// Writes the record as `DIR/NAME.json` (the events and the findings), `NAME.log` (the
    /// dialogue; `ours` is the side this end played), `NAME.pcap` and, when the session's
    /// handshake was key-logged, `NAME.keylog`.
    public func write(to directory: URL, name: String, peer: String, end: SessionEnd, ours: Dialogue.Side, findings: [Finding], keyLog: [String]) throws {
        let document = Document(connection: name, peer: peer, end: "\(end)", findings: findings.map(FindingEntry.init), events: entries)
        try Self.json(document).write(to: directory.appendingPathComponent("\(name).json"), options: .atomic)
        try dialogue(ours: ours).write(to: directory.appendingPathComponent("\(name).log"), atomically: true, encoding: .utf8)
        try Data(pcap(server: ours == .server)).write(to: directory.appendingPathComponent("\(name).pcap"), options: .atomic)
        if !keyLog.isEmpty {
            try (keyLog.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("\(name).keylog"), atomically: true, encoding: .utf8)
        }
    }

    /// Pretty, sorted JSON (stable for diffs).
    public static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
