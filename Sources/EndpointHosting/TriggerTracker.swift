import SMTPCore

/// Where a session stands, read off the plaintext both sides write, and which fault triggers
/// that moment fires (docs/catalog.md, E1). One tracker per connection: the simulated links and
/// the socket fault injector both consult it, so a trigger strikes at the same protocol point in
/// the simulator and on a real socket.
///
/// Sans-IO: fed every plaintext write of either side (before encryption; on a socket, what smtpsim
/// writes and what it reads from the peer), every STARTTLS and every octet of server handshake.
/// Each rule fires at most once per connection; its `fired` flag lives here.
///
/// Reading a write is two steps, because the caller acts in between: `firings(…)` decides the
/// triggers on the landmarks as they were before the write, `advance(…)` then moves the
/// landmarks past it.
public struct TriggerTracker: Sendable {
    /// The session's landmarks.
    public struct Landmarks: Hashable, Sendable {
        /// The server has invited message data (a reply line starting `354`).
        public var saw354 = false
        /// The client's final dot (`<CRLF>.<CRLF>`, RFC 5321 §4.1.1.4) ended that data.
        public var sawFinalDot = false
        /// Ciphertext octets of the server's handshake so far.
        public var handshakeOctets = 0
        /// Data sections invited (354s) and final dots seen, for `occurrence`.
        public var dataSections = 0
        public var finalDots = 0
        /// BDAT chunks begun (RFC 3030 §2); those that ended and were not the last; whether the
        /// stream is now between two chunks of one message.
        public var chunks = 0
        public var chunksEndedBeforeLast = 0
        public var betweenChunks = false
        /// Inside message data: after a 354, before its final dot.
        public var inData: Bool { saw354 && !sawFinalDot }
        /// The client sent DATA and no 354 has answered it yet: only a 354 to DATA opens message
        /// data, as the server reads it (a 354 greeting or a 354 to MAIL does not).
        var dataRequested = false
        /// An AUTH exchange is under way (RFC 4954 §4): the client sent AUTH and the server has
        /// not given its final reply.
        var authPending = false
        /// The client's next line answers a challenge: after a 334, or after AUTH without an
        /// initial response.
        var challengeOpen = false
    }

    /// A rule whose trigger the current write (or handshake flight) meets.
    public struct Firing: Hashable, Sendable {
        /// Index in the rule list the tracker was made with.
        public var rule: Int
        /// Where in the write the fault takes effect: after this many of its octets.
        public var afterOctets: Int

        public init(rule: Int, afterOctets: Int) {
            self.rule = rule
            self.afterOctets = afterOctets
        }
    }

    /// What `advance` learnt from a client write.
    public struct ClientStep: Sendable {
        /// The write was message data (after a 354, before the final dot), at least at its start.
        public var wasData: Bool
        /// Its command lines (without line ends, from the first `commandScanLimit` octets; answers to
        /// AUTH challenges are in `saslResponses` instead):
        /// message data up to the final dot and BDAT chunk octets are not commands, whatever they
        /// hold (RFC 5321 §4.1.1.4, RFC 3030 §2).
        public var commands: [ArraySlice<UInt8>]
        /// Lines that answer an AUTH challenge (RFC 4954 §4: base64 credentials, or `*` to
        /// cancel), not commands at all.
        public var saslResponses: [ArraySlice<UInt8>] = []
    }

    /// Command lines are looked for in the first 2 KiB of a write (the commands the oracles read
    /// are short; RFC 5321 §4.5.3.1.4 caps a command line at 512 octets).
    public static let commandScanLimit = 2048

    private let triggers: [Trigger?]
    private var fired: [Bool]
    /// Times each rule's trigger must still be met before it fires (`FaultRule.occurrence`).
    private var remaining: [Int]
    /// The data section (or final dot) in which a phase trigger was last met: met once each.
    private var metIn: [Int]
    public private(set) var landmarks = Landmarks()
    /// The last octets each side wrote, so that a pattern split across writes is still found:
    /// as long as the longest pattern less one (never a hidden cap on pattern length).
    private var clientTail: [UInt8] = []
    private var serverTail: [UInt8] = []
    private let tailLength: Int
    /// The client's stream, read as the server reads it (lines, data after a 354, BDAT chunks).
    private var client = ClientStream(maximumLineLength: SMTPLimits.rfcAuthLine)
    /// Total octets the client wrote, for offsets within a write.
    private var clientOctets = 0

    static let line354 = Array("\n354".utf8)
    /// The client's message data is only read for its end: nothing stored, no finding kept.
    static let dataReading = DataDecoder.Configuration(textLineLimit: Int.max, maximumMessageSize: 0, maximumRecordedFindings: 0)

    /// A tracker for the rules that apply to connection `connection` (1-based; nil: every rule).
    public init(rules: [FaultRule], connection: Int?) {
        triggers = rules.map { rule in
            guard connection.map({ rule.applies(to: $0) }) ?? true else { return nil }
            return rule.at?.resolved
        }
        fired = Array(repeating: false, count: rules.count)
        remaining = rules.map { max(1, $0.occurrence ?? 1) }
        metIn = Array(repeating: 0, count: rules.count)
        var longest = Self.line354.count
        for case .write(_, let pattern, _, _)? in triggers { longest = max(longest, pattern.utf8.count) }
        tailLength = longest - 1
        // The stream starts at a line start.
        serverTail = [0x0A]
    }

    /// Where the session stands, in words: for findings that name the SMTP state of an event.
    public var state: String {
        if let chunk = client.currentChunk, chunk.remaining > 0 { return "inside a BDAT chunk (\(chunk.received) of \(chunk.size) octets)" }
        if landmarks.betweenChunks { return "between BDAT chunks" }
        if landmarks.inData { return "inside message data (after the 354)" }
        if landmarks.sawFinalDot { return "after the final dot" }
        return "between commands"
    }

    /// Marks rule `k` fired; false when it already had (or does not apply here).
    public mutating func markFired(_ k: Int) -> Bool {
        guard fired.indices.contains(k), !fired[k], triggers[k] != nil else { return false }
        fired[k] = true
        return true
    }

    /// Rules armed on `event` (`.connectionOpened` or `.tlsStarted`), marked fired, in order.
    public mutating func firings(at event: Trigger, armed: Bool) -> [Int] {
        guard armed else { return [] }
        var out: [Int] = []
        for k in triggers.indices where !fired[k] && triggers[k] == event && met(k) { out.append(k) }
        return out
    }

    /// The rules that `bytes`, written by `side` at `epoch` (0 plaintext, 1 inside TLS), fires,
    /// marked fired, in rule order. Decided on the landmarks before this write.
    public mutating func firings(_ bytes: [UInt8], by side: Side, epoch: Int, armed: Bool) -> [Firing] {
        guard armed, !bytes.isEmpty else { return [] }
        var out: [Firing] = []
        for k in triggers.indices where !fired[k] {
            let position: Int
            switch triggers[k] {
            case .write(let s, let pattern, let cut, let e)?:
                guard s == side, e.map({ $0 == epoch }) ?? true,
                    let end = Self.matchEnd(side == .client ? clientTail : serverTail, bytes, Array(pattern.utf8))
                else { continue }
                switch cut {
                case .afterMatch: position = end
                case .afterWrite: position = bytes.count
                case .beforeMatch: position = max(0, end - pattern.utf8.count)
                }
            case .midBody?:
                guard side == .client, landmarks.inData, metIn[k] != landmarks.dataSections else { continue }
                metIn[k] = landmarks.dataSections
                position = max(1, bytes.count / 2)
            case .finalReply?:
                guard side == .server, landmarks.sawFinalDot, metIn[k] != landmarks.finalDots else { continue }
                metIn[k] = landmarks.finalDots
                position = bytes.count
            case .midChunk?:
                guard side == .client, let (chunk, middle) = chunkMiddle(in: bytes), metIn[k] != chunk else { continue }
                metIn[k] = chunk
                position = middle
            case .betweenChunks?:
                // The server's reply to a chunk that was not the last.
                guard side == .server, landmarks.chunksEndedBeforeLast > 0, metIn[k] != landmarks.chunksEndedBeforeLast else { continue }
                metIn[k] = landmarks.chunksEndedBeforeLast
                position = bytes.count
            case .connectionOpened?, .atTime?, .tlsStarted?, .handshakeBytes?, .phase?, nil:
                continue
            }
            guard met(k) else { continue }
            out.append(Firing(rule: k, afterOctets: position))
        }
        return out
    }

    /// Rule `k`'s trigger is met once more: true (and marked fired) when that was the last time
    /// it had to be.
    private mutating func met(_ k: Int) -> Bool {
        remaining[k] -= 1
        guard remaining[k] <= 0 else { return false }
        fired[k] = true
        return true
    }

    /// Moves the landmarks past a write of `side`. For a client write, returns what it held.
    @discardableResult
    public mutating func advance(past bytes: [UInt8], by side: Side) -> ClientStep? {
        switch side {
        case .server:
            if landmarks.authPending { readAuthReplies(bytes) }
            if landmarks.dataRequested, Self.opens354Line(serverTail, bytes) {
                landmarks.dataRequested = false
                landmarks.saw354 = true
                landmarks.sawFinalDot = false  // a new message's data begins
                landmarks.dataSections += 1
                if !client.isInData { client.beginData(Self.dataReading) }
            }
            Self.keep(&serverTail, bytes, tailLength)
            return nil
        case .client:
            let wasData = landmarks.inData
            let start = clientOctets
            clientOctets += bytes.count
            client.append(bytes)
            var commands: [ArraySlice<UInt8>] = []
            var sasl: [ArraySlice<UInt8>] = []
            while let item = client.next() {
                switch item {
                case .line(let line, let offset):
                    if landmarks.challengeOpen {
                        // An answer to a challenge, not a command (RFC 4954 §4).
                        landmarks.challengeOpen = false
                        if offset - start < Self.commandScanLimit { sasl.append(line) }
                        continue
                    }
                    if offset - start < Self.commandScanLimit { commands.append(line) }
                    readCommand(line)
                    if let (size, last) = Self.bdat(line) {
                        client.beginChunk(size: UInt64(size), last: last)
                        landmarks.chunks += 1
                        landmarks.betweenChunks = false
                    }
                case .endOfData:
                    landmarks.sawFinalDot = true
                    landmarks.finalDots += 1
                case .endOfChunk(let chunk):
                    landmarks.betweenChunks = !chunk.isLast
                    if !chunk.isLast { landmarks.chunksEndedBeforeLast += 1 }
                case .lineError, .chunkOctets:
                    break
                }
            }
            Self.keep(&clientTail, bytes, tailLength)
            var step = ClientStep(wasData: wasData, commands: commands)
            step.saslResponses = sasl
            return step
        }
    }

    /// A client command line: DATA asks for message data; AUTH opens an exchange whose next line
    /// answers a challenge unless the command carried an initial response (RFC 4954 §4).
    private mutating func readCommand(_ line: ArraySlice<UInt8>) {
        guard let first = line.first.map({ $0 & 0xDF }), first == 0x44 || first == 0x41 else { return }  // "D", "A"
        let words = line.split(separator: 0x20, omittingEmptySubsequences: true)
        guard let verb = words.first, verb.count == 4 else { return }
        if words.count == 1, verb.elementsEqual(Array("DATA".utf8), by: { $0 & 0xDF == $1 }) {
            landmarks.dataRequested = true
        } else if verb.elementsEqual(Array("AUTH".utf8), by: { $0 & 0xDF == $1 }), words.count >= 2 {
            landmarks.authPending = true
            landmarks.challengeOpen = words.count == 2
        }
    }

    /// Server reply lines during an AUTH exchange: a 334 invites the client's next line; any
    /// other code that ends a reply ends the exchange. Lines are found where they start in this
    /// write (the server writes whole replies).
    private mutating func readAuthReplies(_ bytes: [UInt8]) {
        var start = serverTail.last == 0x0A ? 0 : nil
        var i = 0
        while i < bytes.count {
            if let s = start, s + 3 < bytes.count {
                let code = bytes[s..<(s + 3)]
                if code.elementsEqual(Array("334".utf8)) {
                    landmarks.challengeOpen = true
                } else if bytes[s + 3] != 0x2D, code.allSatisfy({ (0x30...0x39).contains($0) }) {  // not "-": a reply's last line
                    landmarks.authPending = false
                    landmarks.challengeOpen = false
                    return
                }
            }
            guard let lf = bytes[i...].firstIndex(of: 0x0A) else { return }
            start = lf + 1
            i = lf + 1
        }
    }

    /// Ciphertext of the server's handshake: the rules this flight reaches, marked fired, each
    /// with how many of these octets pass before it strikes.
    public mutating func handshake(octets: Int, armed: Bool) -> [Firing] {
        let before = landmarks.handshakeOctets
        landmarks.handshakeOctets += octets
        guard armed else { return [] }
        var out: [Firing] = []
        for k in triggers.indices where !fired[k] {
            guard case .handshakeBytes(let n)? = triggers[k], landmarks.handshakeOctets >= n else { continue }
            fired[k] = true  // one handshake per connection: occurrence does not apply
            out.append(Firing(rule: k, afterOctets: max(0, n - before)))
        }
        return out
    }

    // MARK: - Reading the client's stream

    /// The chunk size of a `BDAT <size> [LAST]` line (RFC 3030 §2), and whether it is the last.
    static func bdat(_ line: ArraySlice<UInt8>) -> (size: Int, last: Bool)? {
        // Every client line comes here: most are not BDAT, told by their first letter alone.
        guard let first = line.first(where: { $0 != 0x20 }), first & 0xDF == UInt8(ascii: "B") else { return nil }
        let words = line.split(separator: 0x20, maxSplits: 2)
        guard words.count >= 2, words[0].count == 4,
            words[0].elementsEqual(Array("BDAT".utf8), by: { $0 & 0xDF == $1 }),
            let size = Int(String(decoding: words[1], as: UTF8.self)), size >= 0
        else { return nil }
        let last = words.count == 3 && words[2].count == 4 && words[2].elementsEqual(Array("LAST".utf8), by: { $0 & 0xDF == $1 })
        return (size, last)
    }

    /// The chunk (by its number) whose octets this client write holds first, and the write's
    /// offset halfway through those octets: a chunk already under way, or one a `BDAT` line in
    /// the write begins. Read on a copy of the stream, so the landmarks stay as they were.
    func chunkMiddle(in bytes: [UInt8]) -> (chunk: Int, offset: Int)? {
        if let chunk = client.currentChunk, chunk.remaining > 0 {
            let held = min(bytes.count, Int(clamping: chunk.remaining))
            return (landmarks.chunks, max(1, held / 2))
        }
        var copy = client
        copy.append(bytes)
        let start = clientOctets
        var chunks = landmarks.chunks
        while let item = copy.next() {
            guard case .line(let line, let offset) = item, let (size, _) = Self.bdat(line) else { continue }
            chunks += 1
            let octetsStart = offset - start + line.count + 2
            let held = min(size, bytes.count - octetsStart)
            guard held > 0 else { return nil }
            return (chunks, octetsStart + max(1, held / 2))
        }
        return nil
    }

    // MARK: - Matching

    /// A line of the server's stream that starts with `354` ends inside `bytes` (the tail holds
    /// the octets before them). Crosses the write at the speed of a search for "3".
    static func opens354Line(_ tail: [UInt8], _ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return false }
        // A match that begins in the tail.
        if Self.matchEnd(tail, Array(bytes.prefix(line354.count - 1)), line354) != nil { return true }
        return bytes.withUnsafeBufferPointer { b in
            var i = 0
            while let k = b[i...].firstIndex(of: 0x33) {  // "3"
                if k >= 1, k + 2 < b.count, b[k - 1] == 0x0A, b[k + 1] == 0x35, b[k + 2] == 0x34 { return true }
                i = k + 1
            }
            return false
        }
    }

    /// End (in `bytes`) of the first match of `pattern` that ends inside `bytes`, looking back
    /// into `tail` (what the same side wrote before).
    static func matchEnd(_ tail: [UInt8], _ bytes: [UInt8], _ pattern: [UInt8]) -> Int? {
        guard let first = pattern.first, tail.count + bytes.count >= pattern.count else { return nil }
        func at(_ i: Int) -> UInt8 { i < tail.count ? tail[i] : bytes[i - tail.count] }
        var i = max(0, tail.count - pattern.count + 1)
        let total = tail.count + bytes.count
        while i + pattern.count <= total {
            if at(i) == first {
                var j = 1
                while j < pattern.count, at(i + j) == pattern[j] { j += 1 }
                if j == pattern.count { return i + pattern.count - tail.count }
            }
            i += 1
        }
        return nil
    }

    private static func keep(_ tail: inout [UInt8], _ bytes: [UInt8], _ length: Int) {
        if bytes.count >= length {
            // In place: the tail's storage is reused write after write.
            tail.removeAll(keepingCapacity: true)
            tail.append(contentsOf: bytes[(bytes.count - length)...])
        } else {
            tail.append(contentsOf: bytes)
            if tail.count > length { tail.removeFirst(tail.count - length) }
        }
    }
}
