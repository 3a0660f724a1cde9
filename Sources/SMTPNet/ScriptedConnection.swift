import EndpointHosting
import Foundation
import NIOCore
import SMTPCore
import SMTPTLS
import Synchronization

/// What a scripted connection's octets travel on: a socket (waits bounded by the wall clock)
/// or smtpsim's own server in memory (no time at all: whatever the server answers is there at
/// once, and nothing more comes until the next write).
protocol ScriptWire: AnyObject {
    func write(_ bytes: [UInt8]) async throws
    /// The peer's octets: on a socket, what came within `timeout` seconds (empty when none);
    /// in memory, what the server wrote so far.
    func take(timeout: Double) async -> (bytes: [UInt8], eof: Bool)
    /// Nothing can come without a write (in memory): an empty take is the end of every wait.
    var timeless: Bool { get }
}

/// A TCP connection: the one socket reader (`Sockets.read`, back-pressured by a `Valve`) fills
/// a stream that each wait takes from; a timer ends a wait with nothing.
final class SocketWire: ScriptWire {
    enum Input: Sendable {
        case bytes([UInt8])
        case end
        /// The timer of wait number `n` ran out.
        case wake(Int)
    }
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let continuation: AsyncStream<Input>.Continuation
    let valve: Valve
    private var inputs: AsyncStream<Input>.AsyncIterator
    private var waits = 0
    private var ended = false
    var timeless: Bool { false }

    init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, inputs: AsyncStream<Input>, continuation: AsyncStream<Input>.Continuation, valve: Valve) {
        self.outbound = outbound
        self.inputs = inputs.makeAsyncIterator()
        self.continuation = continuation
        self.valve = valve
    }

    func write(_ bytes: [UInt8]) async throws { try await outbound.write(ByteBuffer(bytes: bytes)) }

    func take(timeout: Double) async -> (bytes: [UInt8], eof: Bool) {
        guard !ended else { return ([], true) }
        waits += 1
        let wait = waits
        let continuation = continuation
        let waker = Task {
            do {
                try await Task.sleep(for: .milliseconds(Int64((max(0, timeout) * 1000).rounded(.up))))
                continuation.yield(.wake(wait))
            } catch {}  // cancelled: the wait it was for is over
        }
        defer { waker.cancel() }
        while let input = await inputs.next() {
            switch input {
            case .bytes(let bytes):
                valve.consumed(bytes.count)
                return (bytes, false)
            case .end:
                ended = true
                return ([], true)
            case .wake(let n) where n == wait:
                return ([], false)
            case .wake:
                continue  // an earlier wait's timer that fired as its wait ended
            }
        }
        ended = true
        return ([], true)
    }
}

/// smtpsim's server (`BuiltInServerEndpoint` with its configuration and flaws, real OpenSSL at
/// STARTTLS) in memory, hosted by a `DirectConnection` whose client is the caller: `probe
/// --in-memory`. Its timers never fire (there is no time), so a wait for what only a timer
/// would say ends at once, as a quiet window does on a socket.
final class InMemoryWire: ScriptWire {
    private let connection: DirectConnection
    private var taken = 0
    var timeless: Bool { true }

    init(_ target: Probe.InMemoryServer) {
        connection = DirectConnection(server: BuiltInServerEndpoint(configuration: target.configuration, connectionID: "C1"))
        let context = target.context
        connection.tls = { _ in context.map { .openSSL(context: $0, serverName: nil, verificationTime: Int64(Date().timeIntervalSince1970)) } }
        connection.run()
    }

    func write(_ bytes: [UInt8]) async throws { connection.deliver(bytes, to: .server) }

    func take(timeout: Double) async -> (bytes: [UInt8], eof: Bool) {
        let output = connection.output
        defer { taken = output.count }
        return (Array(output[taken...]), connection.server?.closed ?? true)
    }
}

/// A hand-driven SMTP connection for `probe`: write exactly the bytes a check needs (pipelined,
/// malformed, oversized), read replies with timeouts, upgrade to TLS on demand. Real sockets,
/// real OpenSSL through the endpoint host (the script is its endpoint); every wait bounded.
final class ScriptedConnection: EndpointHostDriver {
    let wire: ScriptWire
    let timeout: Double
    /// No check may outlast this, whatever it waits for: the probe's bound per connection.
    let deadline: Date
    /// The endpoint the host drives: replies parsed as they come, the handshake's end kept.
    private let script = ReplyReader()
    private var host: EndpointHost!
    private var unsent: [UInt8] = []
    private var tlsFailure: TLSFailure?
    /// Every application write and read of the check, and every octet on the wire after a TLS
    /// session ended, in order (the probe's JSON carries them).
    var exchanges: [Probe.Exchange] { log.exchanges }
    private var log = Probe.ExchangeLog()

    /// Records an exchange with its times.
    private func record(_ direction: Probe.Exchange.Direction, epoch: Int, _ bytes: [UInt8]) {
        log.append(direction, epoch: epoch, bytes)
    }
    /// Octets from the wire after this side ended its TLS session, kept raw.
    private var rawAfterEnd: [UInt8] = []
    private var reading: Bool { host.tlsEnd == nil }
    private(set) var peerClosed = false

    init(wire: ScriptWire, timeout: Double) {
        self.wire = wire
        self.timeout = timeout
        deadline = Date().addingTimeInterval(timeout * Double(ScriptedConnection.waitsPerCheck))
        host = EndpointHost(endpoint: script, driver: self)
        script.onReceive = { [unowned self] bytes in self.record(.received, epoch: self.host.epoch, bytes) }
    }

    /// Octets read from the peer and not yet taken by the check: past this the socket's reading
    /// pauses (TCP back-pressure), so a peer that floods the probe cannot grow its memory.
    static let maximumUnread = 1 << 20

    /// A check's time budget, in `timeout`s.
    static let waitsPerCheck = 4

    /// Opens a connection to the probe's target (a socket, or smtpsim's server in memory), runs
    /// `body`, closes.
    static func with<T: Sendable>(_ target: Probe.Target, timeout: Double, _ body: (ScriptedConnection) async throws -> T) async throws -> T {
        switch target {
        case .socket(let address): return try await with(address, timeout: timeout, body)
        case .inMemory(let server): return try await body(ScriptedConnection(wire: InMemoryWire(server), timeout: timeout))
        }
    }

    /// Opens a connection, runs `body`, closes. Errors connecting propagate as `NetError`.
    static func with<T: Sendable>(_ address: HostPort, timeout: Double, _ body: (ScriptedConnection) async throws -> T) async throws -> T {
        let channel = try await Sockets.connect(address, timeout: timeout)
        return try await channel.executeThenClose { inbound, outbound in
            let (inputs, continuation) = AsyncStream<SocketWire.Input>.makeStream()
            let valve = Valve(limit: maximumUnread)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = await Sockets.read(inbound, into: continuation, valve: valve) { .bytes($0) }
                    continuation.yield(.end)
                }
                let wire = SocketWire(outbound: outbound, inputs: inputs, continuation: continuation, valve: valve)
                defer {
                    valve.open()
                    group.cancelAll()
                    continuation.finish()
                }
                return try await body(ScriptedConnection(wire: wire, timeout: timeout))
            }
        }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Writes `bytes` as they are (encrypted once TLS is up).
    func send(_ bytes: [UInt8]) async throws {
        // The host closed after a TLS failure: a write has nowhere to go.
        if host.closed { throw tlsFailure ?? TLSFailure(.unexpectedEOF, reason: "the TLS session has ended") }
        record(.sent, epoch: host.epoch, bytes)
        host.apply([.send(bytes)])
        try await flush()
    }

    /// Octets on the wire as they are, whatever the TLS state (cleartext after close_notify; with
    /// `epoch` 3, cleartext while TLS is up).
    func sendRaw(_ bytes: [UInt8], epoch: Int = 2) async throws {
        record(.sent, epoch: epoch, bytes)
        unsent += bytes
        try await flush()
    }

    /// This side performs a TLS session event (docs/catalog.md I); false where the session or
    /// the engine cannot (no TLS, an alert the version cannot carry, KeyUpdate in TLS 1.2).
    func perform(_ event: TLSSessionEvent) async throws -> Bool {
        guard host.perform(event) else { return false }
        record(.sent, epoch: 3, unsent)  // the record itself: close_notify, an alert, a KeyUpdate
        try await flush()
        return true
    }

    /// The exchanges of a control connection the check made beside this one, after its own.
    func append(control: [Probe.Exchange]) {
        log.append(control: control)
    }

    /// What the peer puts on the wire within `window` seconds, raw (each arrival recorded when
    /// it came), without reading it through TLS; and whether it closed.
    func watchRaw(window: Double) async -> (raw: [UInt8], closed: Bool) {
        let deadline = min(self.deadline, Date().addingTimeInterval(window))
        var raw: [UInt8] = []
        while deadline.timeIntervalSinceNow > 0, !peerClosed {
            let (bytes, eof) = await wire.take(timeout: deadline.timeIntervalSinceNow)
            if !bytes.isEmpty {
                raw += bytes
                record(.received, epoch: 3, bytes)
            }
            if eof { peerClosed = true }
            if wire.timeless, bytes.isEmpty { break }
        }
        return (raw, peerClosed)
    }

    /// TLS records read through this side's session: the first SMTP reply they hold, if any.
    func decrypt(_ records: [UInt8]) -> SMTPReply? {
        if !records.isEmpty, reading { host.receive(records) }
        return try? script.replies.next()
    }

    /// The version the handshake negotiated, once TLS is up.
    var tlsVersion: String? { (host.tlsEngine as? TLSConnection)?.isTLS13 == true ? "TLSv1.3" : host.tlsEngine == nil ? nil : "TLSv1.2" }

    /// After this side ended its TLS session: what the peer puts on the wire within `window`
    /// seconds, split into TLS records (its close_notify or alert) and cleartext (a server
    /// that went back to plaintext), and whether it closed.
    func afterTLSEnd(window: Double) async -> (records: Int, cleartext: [UInt8], closed: Bool) {
        // Each arrival is recorded when it comes (its time is the reply's, not the window's end).
        rawAfterEnd += await watchRaw(window: window).raw
        let (records, cleartext) = Self.split(rawAfterEnd)
        return (records, cleartext, peerClosed)
    }

    /// TLS records from the front of `bytes` (`TLSRecords`); whatever does not parse as a whole
    /// one, and all after it, is cleartext.
    static func split(_ bytes: [UInt8]) -> (records: Int, cleartext: [UInt8]) {
        let front = TLSRecords.leading(bytes)
        return (front.records, Array(bytes[front.end...]))
    }

    /// The next complete reply, or nil when none came in time or the peer closed.
    func reply(timeout: Double? = nil) async throws -> SMTPReply? {
        let deadline = min(self.deadline, Date().addingTimeInterval(timeout ?? self.timeout))
        while true {
            if let r = try script.replies.next() { return r }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, !peerClosed else { return nil }
            guard await pull(timeout: left) || !wire.timeless else { return nil }
        }
    }

    /// Replies that arrive within `window` seconds without being asked for.
    func unsolicited(window: Double) async throws -> [SMTPReply] {
        var out: [SMTPReply] = []
        while let r = try await reply(timeout: window) { out.append(r) }
        return out
    }

    /// STARTTLS already answered 220: runs the handshake (no certificate check: the probe tests
    /// the server's SMTP, not its PKI), after sending `extra` in plaintext. False when the
    /// handshake failed or the peer closed.
    func handshake(before extra: [UInt8] = [], within window: Double? = nil) async throws -> Bool {
        if !extra.isEmpty { host.apply([.send(extra)]) }
        host.apply([.startTLS])
        do {
            try await flush()
        } catch {
            return false  // the peer closed at once: no handshake
        }
        let deadline = min(self.deadline, Date().addingTimeInterval(window ?? timeout))
        while deadline.timeIntervalSinceNow > 0 {
            if let report = script.handshake { return report.established }
            let (bytes, eof) = await wire.take(timeout: deadline.timeIntervalSinceNow)
            host.receive(bytes)
            let answered = (try? await flush()) ?? false
            if let report = script.handshake { return report.established }
            if eof || (wire.timeless && bytes.isEmpty && !answered) { return false }
        }
        return false
    }

    /// Writes what the host handed over; whether there was anything.
    @discardableResult
    private func flush() async throws -> Bool {
        guard !unsent.isEmpty else { return false }
        let bytes = unsent
        unsent = []
        try await wire.write(bytes)
        return true
    }

    /// What came from the peer, through the host (or kept raw after this side's TLS ended);
    /// whether anything came or was answered (in memory, the end of a wait when not).
    private func pull(timeout: Double) async -> Bool {
        let (bytes, eof) = await wire.take(timeout: timeout)
        if reading {
            host.receive(bytes)
        } else if !bytes.isEmpty {
            rawAfterEnd += bytes
            record(.received, epoch: 3, bytes)
        }
        let answered = (try? await flush()) ?? false  // a record the engine answers (a TLS 1.3 KeyUpdate)
        if eof { peerClosed = true }
        return !bytes.isEmpty || answered
    }

    // MARK: EndpointHostDriver

    func isLive(_ host: EndpointHost) -> Bool { true }
    func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]? { bytes }
    func hostDidWrite(_ host: EndpointHost) {}
    func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) { unsent += bytes }
    func host(_ host: EndpointHost, willDeliver bytes: [UInt8]) -> Int { bytes.count }
    func hostDidDeliver(_ host: EndpointHost) {}
    func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup? {
        guard let context = try? TLSContext(TLSConfiguration(role: .client)) else { return nil }
        return .openSSL(context: context, serverName: nil, verificationTime: Int64(Date().timeIntervalSince1970))
    }
    func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? { nil }
    func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64) {}
    func hostPeerSentCloseNotify(_ host: EndpointHost) { peerClosed = true }
    func host(_ host: EndpointHost, event: EndpointHost.Event) {
        switch event {
        case .tlsFailed(let failure), .recordFailed(let failure): tlsFailure = failure
        case .note, .startingTLS, .tlsSetupFailed, .tlsEstablished, .closing, .closed, .resumedPlaintext, .writeAfterTLSEnd: break
        }
    }
}
