import EndpointHosting
import Foundation
import SMTPCore
import SMTPServer
import Synchronization

/// `smtpsim probe --outbound RELAY:PORT` (docs/catalog.md G3): the outbound half of SMTP
/// smuggling. smtpsim listens as the relay's next hop (`listen`; point the relay's relayhost or
/// transport there), submits one message per check through the relay, and reports what reached
/// its listener on the wire: the sequence verbatim, normalised (to what), refused at submission
/// (with the reply), or split into more messages (the relay itself ended the data there).
///
/// Each check's message carries its own markers ("first message <N>", "smuggled <N>"), so messages
/// that arrive late or out of order are still told apart. Every wait is bounded: `timeout` per
/// reply, `arrival` for the message to reach the listener.
public struct OutboundProbe: Sendable {
    public var relay: HostPort
    /// Where smtpsim's next hop listens (port 0: any free port, reported by `run`).
    public var listen: HostPort
    public var timeout: Double = 5
    /// Seconds a submitted message may take to reach the listener.
    public var arrival: Double = 20
    /// How long to listen for replies nobody asked for (a relay that ran the smuggled commands).
    public var quietWindow: Double = 1
    public var heloName = "probe.smtpsim.test"
    public var mailFrom = "probe@smtpsim.test"
    /// A recipient the relay forwards to the next hop (a domain it relays for you).
    public var rcptTo = "bob@example.net"

    /// The wire bytes kept per next-hop connection (RFC 5321 §4.5.3.1.7's 64 KiB minimum message
    /// size, many times over; the checks' messages are under 1 KiB each).
    public static let maximumKeptPerConnection = 4 << 20

    public init(relay: HostPort, listen: HostPort) {
        self.relay = relay
        self.listen = listen
    }

    /// What reached the next hop.
    public enum Arrival: String, Codable, Sendable {
        /// The sequence arrived as it was sent.
        case verbatim
        /// Something else arrived in its place (`arrived` says what).
        case normalised
        /// The sequence arrived dot-stuffed (a leading dot doubled, RFC 5321 §4.5.2): the same
        /// content once the next hop unstuffs it, as a relay that turns BDAT into DATA must send it.
        case stuffed
        /// The relay refused the message (`reply`).
        case refused
        /// The relay ended the data at the sequence: the smuggled transaction arrived on its own.
        case split
        /// Nothing arrived within the wait.
        case lost
        /// The relay does not offer what the check needs (CHUNKING, PIPELINING).
        case notApplicable = "n/a"
        /// The submission did not get as far as the end of data.
        case inconclusive
    }

    public struct Result: Codable, Sendable, Equatable {
        /// A smuggling sequence of this check that left the relay as it was, or made the
        /// relay end the data itself: the relay's half of a smuggling pair.
        public var passesSmuggling: Bool { carriesSmuggling && (arrival == .verbatim || arrival == .split) }

        /// The check sends a smuggling sequence with a second transaction behind it.
        public var carriesSmuggling: Bool { check.hasPrefix("data-") || check.hasPrefix("bdat-") || check.hasPrefix("pipelined-") }

        /// `data-lf-dot-crlf`, `bdat-crlf-dot-crlf`, `bare-lf-in-line`, …
        public var check: String
        /// The sequence sent, escaped (`\n.\r\n`).
        public var sent: String
        public var arrival: Arrival
        /// What arrived in the sequence's place, escaped (for `normalised` and `verbatim`), and
        /// its exact octets in base64.
        public var arrived: String?
        public var arrivedBase64: String?
        /// The relay's reply to the end of the data.
        public var reply: String?
        /// Messages of this check that reached the listener.
        public var messages: Int
        public var detail: String
    }

    /// How a check submits its message.
    enum Carrier: String, Sendable {
        case data, bdat, pipelined
    }

    struct Check: Sendable {
        var name: String
        var sequence: [UInt8]
        var carrier: Carrier
        /// Behind the sequence: a whole second transaction (smuggling), or a second line.
        var smuggles: Bool
    }

    /// The real end of data, which only BDAT carries as text.
    static let endOfData: [UInt8] = [0x0D, 0x0A, 0x2E, 0x0D, 0x0A]

    /// Every check in the order it runs.
    static var checks: [Check] {
        var list = SmugglingVariant.allCases.map { Check(name: "data-\($0.rawValue)", sequence: $0.bytes, carrier: .data, smuggles: true) }
        list += [Check(name: "bare-lf-in-line", sequence: [0x0A], carrier: .data, smuggles: false),
                 Check(name: "bare-cr-in-line", sequence: [0x0D], carrier: .data, smuggles: false)]
        list += SmugglingVariant.allCases.map { Check(name: "bdat-\($0.rawValue)", sequence: $0.bytes, carrier: .bdat, smuggles: true) }
        list.append(Check(name: "bdat-crlf-dot-crlf", sequence: endOfData, carrier: .bdat, smuggles: true))
        list.append(Check(name: "pipelined-lf-dot-crlf", sequence: SmugglingVariant.lfCRLF.bytes, carrier: .pipelined, smuggles: true))
        return list
    }

    public static var checkCount: Int { checks.count }

    /// After the first part of a smuggling message arrives alone, how long to wait for a
    /// smuggled part of its own (a relay that split the message sends it next, on the same
    /// connection or the next).
    static let splitGrace: TimeInterval = 2

    /// The next hop's view: raw octets per connection and the messages it accepted.
    final class NextHop: Sendable {
        private let state = Mutex<(wire: [String: [UInt8]], accepted: [AcceptedMessage])>(([:], []))

        func received(_ bytes: [UInt8], on connection: String) {
            state.withLock { s in
                var kept = s.wire[connection] ?? []
                kept += bytes.prefix(max(0, OutboundProbe.maximumKeptPerConnection - kept.count))
                s.wire[connection] = kept
            }
        }

        func accepted(_ m: AcceptedMessage) { state.withLock { $0.accepted.append(m) } }

        /// The wire bytes of the connection that carried `marker`, from just after it.
        func after(_ marker: [UInt8]) -> [UInt8]? {
            state.withLock { s in
                for key in s.wire.keys.sorted() {  // sorted: the first connection that has it
                    let wire = s.wire[key]!
                    if let end = Octets.end(of: marker, in: wire) { return Array(wire[end...]) }
                }
                return nil
            }
        }

        /// Accepted messages whose body holds `marker` (and `other`, when given).
        func messages(holding marker: [UInt8], and other: [UInt8]? = nil) -> Int {
            state.withLock { s in
                s.accepted.filter { m in Octets.end(of: marker, in: m.body) != nil && other.map { Octets.end(of: $0, in: m.body) != nil } ?? true }.count
            }
        }
    }

    /// Starts the next hop, runs every check, stops the next hop. `ready` gets the listener's
    /// port before the first submission; `progress` each result as it comes.
    public func run(ready: @Sendable (Int) -> Void = { _ in }, progress: (Result) -> Void = { _ in }) async throws(NetError) -> [Result] {
        var configuration = ServerConfiguration()
        configuration.hostname = "nexthop.smtpsim.test"
        configuration.greeting = ["ESMTP smtpsim next hop (probe --outbound)"]
        // Whatever the relay sends is kept as sent: no refusal, no end of data but CRLF.CRLF; and
        // no CHUNKING, so the relay forwards with DATA, as it must to any server without it.
        configuration.rejectBareLineEndings = false
        configuration.extensionsBeforeTLS.removeAll { $0 == .chunking }
        configuration.extensionsAfterTLS.removeAll { $0 == .chunking }
        var server = NetServer(listen: listen, configuration: configuration, identity: nil)
        let hop = NextHop()
        server.onDeliver = { hop.accepted($0) }
        let bound = BoundPort()
        let failure = ListenerFailure()
        let listening = Task {
            do {
                try await server.run(ready: { bound.set($0) }) { id, event in
                    if case .received(let bytes, _) = event { hop.received(bytes, on: id) }
                }
            } catch {
                failure.set(error as? NetError ?? .setup("the next hop stopped: \(error)"))
            }
        }
        defer { listening.cancel() }
        let deadline = Date().addingTimeInterval(timeout)
        while bound.port == nil {
            if let error = failure.error { throw error }
            if Date() > deadline { throw .setup("the next hop did not start listening on \(listen)") }
            try? await Task.sleep(for: .milliseconds(10))
        }
        ready(bound.port ?? listen.port)
        var results: [Result] = []
        for (index, check) in Self.checks.enumerated() {
            let result = await run(check, number: index + 1, hop: hop)
            results.append(result)
            progress(result)
        }
        return results
    }
}

/// Why the next hop could not listen (set once, from the listener's task).
final class ListenerFailure: Sendable {
    private let value = Mutex<NetError?>(nil)
    func set(_ error: NetError) { value.withLock { $0 = error } }
    var error: NetError? { value.withLock { $0 } }
}

/// The port the next hop bound (set once, from the listener's task).
final class BoundPort: Sendable {
    private let value = Mutex<Int?>(nil)
    func set(_ port: Int) { value.withLock { $0 = port } }
    var port: Int? { value.withLock { $0 } }
}

extension OutboundProbe {
    /// Each check's markers, delimited so that check 1's never match inside check 10's.
    static func firstMarker(_ n: Int) -> [UInt8] { Array("first message <\(n)>".utf8) }
    static func smuggledMarker(_ n: Int) -> [UInt8] { Array("Subject: smuggled <\(n)>\r\n".utf8) }
    static func secondLine(_ n: Int) -> [UInt8] { Array("second line <\(n)>\r\n".utf8) }

    /// The message of check `number`: a header line naming it, "first message <N>", the sequence,
    /// then a second transaction from smuggled@smtpsim.test (or a second line).
    func body(_ check: Check, number n: Int) -> [UInt8] {
        var body = Array("Subject: smtpsim outbound probe \(n)\r\nX-Smtpsim-Probe: \(check.name)\r\n\r\n".utf8) + Self.firstMarker(n) + check.sequence
        if check.smuggles {
            body += Array("MAIL FROM:<smuggled@smtpsim.test>\r\nRCPT TO:<\(rcptTo)>\r\nDATA\r\n".utf8) + Self.smuggledMarker(n) + Array("\r\nsmuggled\r\n".utf8)
        } else {
            body += Self.secondLine(n)
        }
        return body
    }

    /// How results show octets: as traces do (`\r\n`).
    static func escape(_ bytes: [UInt8]) -> String { BytePreview.text(bytes, epoch: 0, limit: 64) }

    /// `sequence` as a DATA sender stuffs it inside a message (a dot that starts a line doubled,
    /// RFC 5321 §4.5.2; the sequence follows text, so its first octet starts no line).
    static func dotStuffed(_ sequence: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, b) in sequence.enumerated() {
            if b == 0x2E, i > 0, sequence[i - 1] == 0x0A { out.append(0x2E) }
            out.append(b)
        }
        return out
    }

    private func run(_ check: Check, number n: Int, hop: NextHop) async -> Result {
        let sent = Self.escape(check.sequence)
        func result(_ arrival: Arrival, arrived: [UInt8]? = nil, reply: String? = nil, messages: Int = 0, _ detail: String) -> Result {
            Result(check: check.name, sent: sent, arrival: arrival, arrived: arrived.map(Self.escape),
                   arrivedBase64: arrived.map(Base64.encode), reply: reply, messages: messages, detail: detail)
        }
        let submitted: (Arrival, String)?
        var endReply: String?
        do {
            (submitted, endReply) = try await ScriptedConnection.with(relay, timeout: timeout) { c in try await submit(check, number: n, on: c) }
        } catch {
            return result(.inconclusive, "could not submit through \(relay): \(error)")
        }
        if let (arrival, detail) = submitted { return result(arrival, reply: endReply, detail) }
        // What reached the next hop, within the wait.
        let first = Self.firstMarker(n), smuggled = Self.smuggledMarker(n)
        let until = Date().addingTimeInterval(arrival)
        var grace: Date?
        while Date() < until {
            if hop.messages(holding: first) > 0 {
                if !check.smuggles || hop.messages(holding: smuggled) > 0 { break }
                // The first part alone so far: a split forwards the smuggled one after it.
                grace = grace ?? Date().addingTimeInterval(Self.splitGrace)
                if Date() > grace! { break }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let firsts = hop.messages(holding: first), together = hop.messages(holding: first, and: smuggled)
        let messages = firsts + hop.messages(holding: smuggled) - together
        guard firsts > 0, let wire = hop.after(first) else {
            return result(.lost, reply: endReply, messages: messages, "nothing of it reached the next hop within \(Int(arrival)) s")
        }
        if check.smuggles, messages > firsts {
            return result(.split, reply: endReply, messages: messages,
                          "the relay ended the data at \(sent) and forwarded the smuggled transaction as a message of its own")
        }
        let tail = check.smuggles ? Array("MAIL FROM:<smuggled@".utf8) : Self.secondLine(n)
        guard let end = Octets.end(of: tail, in: wire) else {
            return result(.normalised, reply: endReply, messages: messages, "the text after the sequence did not arrive as sent")
        }
        let region = Array(wire[..<(end - tail.count)])
        if region == check.sequence {
            return result(.verbatim, arrived: region, reply: endReply, messages: messages, "forwarded as it was sent")
        }
        if region == Self.dotStuffed(check.sequence) {
            return result(.stuffed, arrived: region, reply: endReply, messages: messages, "stuffed (content unchanged): forwarded as \(Self.escape(region))")
        }
        return result(.normalised, arrived: region, reply: endReply, messages: messages,
                      "forwarded as \(Self.escape(region))")
    }
}

extension OutboundProbe {
    /// Greeting, EHLO, the envelope and the message through the relay. Returns a verdict when
    /// the check ends here (refused, n/a, inconclusive), and the reply to the end of the data.
    func submit(_ check: Check, number n: Int, on c: ScriptedConnection) async throws -> ((Arrival, String)?, String?) {
        guard let greeting = try await c.reply(), greeting.n == 220 else { return ((.inconclusive, "no 220 greeting from the relay"), nil) }
        try await c.send("EHLO \(heloName)\r\n")
        guard let ehlo = try await c.reply(), ehlo.n == 250, let caps = try? EHLOCapabilities(reply: ehlo) else {
            return ((.inconclusive, "no EHLO reply from the relay"), nil)
        }
        if check.carrier == .bdat, !caps.chunking { return ((.notApplicable, "CHUNKING not offered"), nil) }
        if check.carrier == .pipelined, !caps.pipelining { return ((.notApplicable, "PIPELINING not offered"), nil) }
        let envelope = ["MAIL FROM:<\(mailFrom)>\r\n", "RCPT TO:<\(rcptTo)>\r\n"] + (check.carrier == .bdat ? [] : ["DATA\r\n"])
        // RFC 2920 §3.1: MAIL, RCPT and DATA may go in one write; the message waits for the 354.
        if check.carrier == .pipelined { try await c.send(envelope.joined()) }
        for line in envelope {
            if check.carrier != .pipelined { try await c.send(line) }
            let r = try await c.reply()
            guard let r, r.n / 100 == 2 || r.n == 354 else {
                try? await c.send("QUIT\r\n")
                return ((.inconclusive, "\(line.trimmingCharacters(in: .whitespacesAndNewlines)) answered \(Probe.show(r)) (set --rcpt to an address the relay forwards)"), nil)
            }
        }
        let message = body(check, number: n)
        try await c.send(check.carrier == .bdat ? Array("BDAT \(message.count) LAST\r\n".utf8) + message : message + [0x2E, 0x0D, 0x0A])
        var seen: [SMTPReply] = []
        while let r = try await c.reply(timeout: seen.isEmpty ? timeout : quietWindow) { seen.append(r) }
        try? await c.send("QUIT\r\n")
        guard let first = seen.first else { return ((.inconclusive, "no reply to the end of the data"), nil) }
        guard first.n / 100 == 2 else { return ((.refused, "refused: \(Probe.show(first))"), Probe.show(first)) }
        return (nil, seen.map { Probe.show($0) }.joined(separator: "; "))
    }
}
