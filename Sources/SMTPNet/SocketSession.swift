import Foundation
import NIOCore
import SMTPTLS
import EndpointHosting
import Synchronization

/// One line of what happened on a real connection, for the dialogue `send` and `serve` print.
public enum WireEvent: Sendable, Equatable {
    /// Application bytes the peer sent (decrypted when `tls`).
    case received([UInt8], tls: Bool)
    /// Application bytes smtpsim sent.
    case sent([UInt8], tls: Bool)
    /// The TLS handshake finished (or failed): a one-line description.
    case tls(String)
    /// A fault from the command line or scenario struck.
    case fault(String)
    /// What the endpoint noted (capabilities, outcomes, discarded octets…).
    case note(String)
    /// The peer broke a rule of the oracles that one end can judge (`SessionJudge`).
    case finding(Finding)
}

/// How a session ended.
public enum SessionEnd: Sendable, Equatable {
    /// smtpsim's side closed (QUIT done, or its state machine gave up).
    case closed
    /// The peer closed first.
    case peerClosed
    /// A fault broke the connection on purpose.
    case resetByFault
    /// The session hit its overall time limit.
    case timedOut(seconds: Double)
    /// The peer flooded us, the socket failed, or TLS broke.
    case failed(String)
}

/// Limits of one real session (every wait and every buffer is bounded).
public struct SessionLimits: Hashable, Sendable {
    /// The whole session, wall clock.
    public var sessionSeconds: Double = 300
    /// Octets read from the peer and not yet handed to the state machine; past this, reading
    /// pauses (TCP back-pressure). The machines bound their own buffers (RFC 5321 §4.5.3.1 line
    /// limits); this bounds the queue in front of them.
    public var maximumQueuedInput = 1 << 20
    public init(sessionSeconds: Double = 300) {
        self.sessionSeconds = sessionSeconds
    }
}

/// Runs one sans-IO endpoint (smtpsim's server or client, or any `SimulatedEndpoint`) over a real
/// TCP connection: the edge's driver of the same `EndpointHost` the simulator drives, with the
/// same `TriggerTracker` deciding where faults strike. It owns the socket, the wall-clock timers
/// and the TLS context for this connection; the host and the endpoint stay pure.
///
/// One task drives everything (reads arrive through a bounded queue from a reader task), so the
/// host, the endpoint and the `TLSConnection` are never touched concurrently. What the host
/// hands over synchronously is queued and written out after each step.
public final class SocketSession {
    public let endpoint: SimulatedEndpoint
    let tlsContext: TLSContext?
    let serverName: String?
    let faults: StreamFaults
    let limits: SessionLimits
    private let sink: (WireEvent) -> Void

    public private(set) var tlsDetails: TLSSessionDetails?
    /// Where this end's stream stands: 0 in the clear, 1 inside TLS, 2 in the clear after TLS
    /// ended (read while an event is logged, it is that event's).
    public var epoch: Int { host.epoch }
    /// What the peer did that the oracles one end can see judge wrong (docs/design.md
    /// "Oracles"), in order; each is logged as it happens. `eventIndex` counts the session's
    /// logged events.
    public private(set) var findings: [Finding] = []
    /// The judge of the peer, fed every write of both sides as this end saw it.
    private var judge: SessionJudge
    /// Events logged so far (a finding's `eventIndex`).
    private var logged = 0
    /// The longest a timer may wait now, in seconds (nil: as the endpoint asked). `serve` cuts
    /// the server's idle timer under connection stress (`ConnectionPressure.idleClamp`); the
    /// clamp is read again each second, so a timer armed before the stress shortens too.
    public var timerClamp: (@Sendable (TimerID) -> Double?)?

    private var host: EndpointHost!
    private var tracker: TriggerTracker
    private var end: SessionEnd?
    /// How the session ends when the host closes (a failed handshake, the peer's close_notify).
    private var closeReason: SessionEnd?
    /// What the host handed over in the current step, written out in order by `flush`.
    private var outgoing: [Outgoing] = []
    private var resetAfterWrite: String?
    /// A reset waiting until the endpoint has read the peer's bytes up to the cut; what the
    /// endpoint writes meanwhile never leaves (the connection is already broken there).
    private var resetAfterDelivery = false
    /// TLS session faults waiting for this side's write, or the peer's bytes, to be through.
    private var afterWrite: [(rule: Int, when: String)] = []
    private var afterDelivery: [(rule: Int, when: String)] = []
    private var timers: [TimerID: Task<Void, Never>] = [:]  // lookups only
    private var stalledUntil: ContinuousClock.Instant?
    private var outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>?
    private var continuation: AsyncStream<Event>.Continuation?
    private var mySide: Side { endpoint.role == .server ? .server : .client }
    private var peerSide: Side { endpoint.role == .server ? .client : .server }

    enum Event: Sendable {
        case bytes([UInt8])
        case eof
        case failed(String)
        case timer(TimerID, generation: UInt64)
        case deadline
        /// A time-triggered fault rule.
        case faultTime(rule: Int)
        /// The listener needs this session's slot for a new connection (`ConnectionPressure`).
        case evicted
    }

    /// How another task (the listener) reaches a session's event loop: before the loop runs, a
    /// request is kept and delivered when it starts.
    final class Signal: Sendable {
        private let state = Mutex<(continuation: AsyncStream<Event>.Continuation?, pending: Bool)>((nil, false))
        func attach(_ c: AsyncStream<Event>.Continuation) {
            let pending = state.withLock { s in
                s.continuation = c
                return s.pending
            }
            if pending { c.yield(.evicted) }
        }
        func fire() {
            let c = state.withLock { s in
                s.pending = true
                return s.continuation
            }
            c?.yield(.evicted)
        }
    }

    private let evictionSignal = Signal()

    /// Ends the session from outside, as the operator would: 421, then close (RFC 5321 §3.8).
    /// Callable from any task (the listener's).
    public var evictor: @Sendable () -> Void {
        let signal = evictionSignal
        return { signal.fire() }
    }

    /// Every octet on the wire, as it is written (`outgoing`) or read, TLS records included:
    /// what a pcap of the session shows (`serve --record`).
    public var onWire: ((_ outgoing: Bool, _ bytes: [UInt8]) -> Void)?
    /// The TLS session's secrets in NSS key-log lines, once its handshake is done (only with a
    /// context made with `keyLog`), so that a pcap can be decrypted.
    public private(set) var keyLogLines: [String] = []

    /// Called when the peer completes a line (a command, or a line of message data): the
    /// session's progress, which eviction and the listener's stress accounting read.
    public var onProgress: (@Sendable () -> Void)?

    /// What the judge of the peer knows beyond its writes (`probe --client`: the policy the client
    /// was configured with, and whether the certificate served verifies for it).
    public func judgeClient(demandsVerifiedTLS: Bool, servedCertificateUnverified: Bool, implicitTLS: Bool = false) {
        judge.demandsVerifiedTLS = demandsVerifiedTLS
        judge.servedCertificateUnverified = servedCertificateUnverified
        judge.implicitTLS = implicitTLS
    }

    enum Outgoing {
        case bytes([UInt8])
        case stall(Int64)
        case reset
        case finish
    }

    public init(endpoint: SimulatedEndpoint, tlsContext: TLSContext?, serverName: String? = nil, faults: StreamFaults = StreamFaults(), limits: SessionLimits = SessionLimits(), log: @escaping (WireEvent) -> Void) {
        self.endpoint = endpoint
        self.tlsContext = tlsContext
        self.serverName = serverName
        self.faults = faults
        self.limits = limits
        self.sink = log
        tracker = TriggerTracker(rules: faults.rules, connection: nil)
        judge = SessionJudge(judged: endpoint.role == .server ? .client : .server)
        host = EndpointHost(endpoint: endpoint, driver: self)
    }

    /// Runs the session to its end; closes the channel.
    public func run(_ channel: ByteChannel) async -> SessionEnd {
        let limit = limits.maximumQueuedInput
        let sessionMilliseconds = Int64(limits.sessionSeconds * 1000)
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let (events, continuation) = AsyncStream<Event>.makeStream()
                self.outbound = outbound
                self.continuation = continuation
                self.evictionSignal.attach(continuation)
                let queued = Valve(limit: limit)
                let result = await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let failure = await Sockets.read(inbound, into: continuation, valve: queued) { .bytes($0) }
                        continuation.yield(failure.map { .failed($0) } ?? .eof)
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(sessionMilliseconds))
                        continuation.yield(.deadline)
                    }
                    let end = await self.loop(events, queued: queued)
                    queued.open()
                    group.cancelAll()
                    return end
                }
                for (_, task) in timers { task.cancel() }
                timers.removeAll()
                continuation.finish()
                if result == .resetByFault { await Sockets.arrangeReset(channel) }
                return result
            }
        } catch {
            return end ?? .failed("\(error)")
        }
    }

    private func loop(_ events: AsyncStream<Event>, queued: Valve) async -> SessionEnd {
        var shutdownAfterStart = false
        for k in tracker.firings(at: .connectionOpened, armed: true) {
            if case .shutdown = faults.actions[k] { shutdownAfterStart = true } else { strike(k, "at connection open") }
        }
        for (k, rule) in faults.rules.enumerated() {
            if case .atTime(let t)? = rule.at?.resolved { schedule(after: t, .faultTime(rule: k)) }
        }
        if end == nil {
            host.start()
            // The greeting goes out first, then the 421.
            if shutdownAfterStart { host.shutdown() }
        }
        await flush()
        if let end { return end }
        for await event in events {
            switch event {
            case .bytes(let bytes):
                queued.consumed(bytes.count)
                receive(bytes)
            case .eof:
                log(.note("the peer closed the connection"))
                closeReason = closeReason ?? .peerClosed
                host.peerClosed()
                await flush()
                return end ?? .peerClosed
            case .failed(let why):
                log(.note("connection failed: \(why)"))
                closeReason = closeReason ?? .failed(why)
                host.peerClosed()
                await flush()
                return end ?? .failed(why)
            case .timer(let id, let generation):
                host.timerFired(id, generation: generation)
            case .deadline:
                log(.note("session time limit (\(limits.sessionSeconds.formatted1) s) reached"))
                return end ?? .timedOut(seconds: limits.sessionSeconds)
            case .faultTime(let k):
                if tracker.markFired(k) { strike(k, "at the scheduled time") }
            case .evicted:
                log(.note("evicted: a new connection needs the slot of this session, which made the least progress"))
                host.shutdown()
            }
            await flush()
            if let end { return end }
        }
        return end ?? .closed
    }

    /// Octets from the socket into the host; a client counts the server's handshake octets for
    /// handshake-bytes triggers before its engine reads them.
    private func receive(_ bytes: [UInt8]) {
        onWire?(false, bytes)
        if mySide == .client, host.epoch == 1, !host.tlsEstablished {
            for firing in tracker.handshake(octets: bytes.count, armed: true) {
                strike(firing.rule, "after \(firing.afterOctets) more handshake octets from the server")
            }
            if end != nil { return }
        }
        host.receive(bytes)
    }

    private func log(_ event: WireEvent) {
        logged += 1
        sink(event)
    }

    /// A write by `side` (the peer's as this end read it), judged; `step` is the tracker's
    /// reading of a client's write. Findings are logged and kept, up to the simulator's bound.
    private func judge(_ bytes: [UInt8], by side: Side, step: TriggerTracker.ClientStep?) {
        for v in judge.observe(bytes, by: side, epoch: host.epoch, step: step) where findings.count < SessionJudge.findingsPerConnection {
            let finding = v.finding(at: max(0, logged - 1))
            findings.append(finding)
            log(.finding(finding))
        }
    }

    // MARK: - Faults

    /// Carries out rule `k` (already marked fired) on this side's stream.
    private func strike(_ k: Int, _ when: String) {
        switch faults.actions[k] {
        case .reset:
            faultReset(when)
        case .stall(let duration):
            log(.fault("stall \(Double(duration) / 1e9) s \(when)"))
            outgoing.append(.stall(duration))
        case .shutdown:
            host.shutdown()
        case .session(let event, let then):
            performSession(event, then: then, when)
        case .cleartext(let bytes):
            guard host.tlsEstablished else { return log(.fault("plaintext-after-tls \(when): no TLS session")) }
            log(.fault("plaintext-after-tls \(when): \(Self.preview(bytes))"))
            outgoing.append(.bytes(bytes))
        case .recordSize(let octets):
            log(.fault("tls-record-size \(octets) \(when)"))
            host.recordSize = octets
        }
    }

    /// This side's TLS performs a session event, then cleartext and a FIN as the fault says.
    private func performSession(_ event: TLSSessionEvent, then: TLSAftermath, _ when: String) {
        guard host.perform(event) else {
            return log(.fault("\(event) \(when): \(host.tlsEstablished ? "the TLS engine cannot do this in the version negotiated" : "no TLS session")"))
        }
        log(.fault("\(event) \(when)"))
        if let text = then.plaintext {
            log(.sent(Array(text.utf8), tls: false))
            outgoing.append(.bytes(Array(text.utf8)))
        }
        if then.close { outgoing.append(.finish) }
    }

    private func faultReset(_ when: String) {
        guard end == nil else { return }
        log(.fault("reset \(when)"))
        outgoing.append(.reset)
        end = .resetByFault
    }

    // MARK: - Output

    /// Writes what the host handed over, with the split, delay and stall faults.
    private func flush() async {
        while !outgoing.isEmpty {
            let next = outgoing.removeFirst()
            guard let outbound else { continue }
            switch next {
            case .bytes(let bytes):
                await write(bytes, to: outbound)
            case .stall(let duration):
                stalledUntil = .now + .nanoseconds(duration)
            case .reset:
                outgoing.removeAll()
            case .finish:
                outbound.finish()
            }
        }
    }

    private func write(_ bytes: [UInt8], to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        let segment = max(1, faults.maxSegment ?? bytes.count)
        var offset = 0
        while offset < bytes.count {
            if let until = stalledUntil {
                stalledUntil = nil
                try? await Task.sleep(until: until)
            }
            if faults.delay > 0 { try? await Task.sleep(for: .nanoseconds(faults.delay)) }
            let chunk = bytes[offset..<min(bytes.count, offset + segment)]
            do {
                try await outbound.write(ByteBuffer(bytes: chunk))
                onWire?(true, Array(chunk))
            } catch {
                if end == nil { end = .failed("write failed: \(Sockets.describe(error))") }
                outgoing.removeAll()
                return
            }
            offset += chunk.count
        }
    }

    @discardableResult
    private func schedule(after nanoseconds: Int64, _ event: Event) -> Task<Void, Never> {
        let continuation = continuation
        return Task {
            do {
                try await Task.sleep(for: .nanoseconds(nanoseconds))
                continuation?.yield(event)
            } catch {}
        }
    }

    // MARK: - Descriptions

    static func describe(_ d: TLSSessionDetails, role: EndpointRole) -> String {
        var s = "\(d.version) \(d.cipherSuite)"
        if let g = d.group { s += " group \(g)" }
        if role == .client {
            if let leaf = d.peerCertificates.first { s += "; server certificate \(leaf.subject) issued by \(leaf.issuer)" }
            s += d.peerVerified ? "; verified" : "; NOT verified: \(d.verifyResultText)"
        } else if let leaf = d.peerCertificates.first {
            s += "; client certificate \(leaf.subject)"
        }
        return s
    }

    static func preview(_ bytes: [UInt8]) -> String {
        BytePreview.text(Array(bytes.prefix(40)))
    }
}

extension SocketSession: EndpointHostDriver {
    public func isLive(_ host: EndpointHost) -> Bool { end == nil }

    public func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]? {
        guard !resetAfterDelivery else { return nil }
        let epoch = host.epoch
        var out = bytes
        var shutdown = false
        for firing in tracker.firings(bytes, by: mySide, epoch: epoch, armed: true) {
            switch faults.actions[firing.rule] {
            case .reset:
                out = Array(bytes.prefix(firing.afterOctets))
                resetAfterWrite = "after writing \(Self.preview(out))"
            case .shutdown:
                shutdown = true
            case .stall:
                strike(firing.rule, "before writing \(Self.preview(bytes))")
            case let action where action.endsSession:
                // What follows the cut would come after the session's end: it is not sent.
                out = Array(out.prefix(firing.afterOctets))
                afterWrite.append((firing.rule, "after writing \(Self.preview(out))"))
            case .session, .cleartext, .recordSize:
                afterWrite.append((firing.rule, "after writing \(Self.preview(bytes))"))
            }
        }
        let step = tracker.advance(past: bytes, by: mySide)
        if shutdown {
            host.shutdown()
            return nil
        }
        log(.sent(out, tls: epoch == 1))
        judge(out, by: mySide, step: step)
        return out
    }

    public func hostDidWrite(_ host: EndpointHost) {
        if let when = resetAfterWrite {
            resetAfterWrite = nil
            faultReset(when)
        }
        let due = afterWrite
        afterWrite = []
        for (k, when) in due where end == nil { strike(k, when) }
    }

    public func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) {
        guard !bytes.isEmpty, !resetAfterDelivery else { return }
        var sent = 0
        if handshake, mySide == .server {
            // Handshake-bytes triggers strike at their octet: what comes before leaves first.
            let firings = tracker.handshake(octets: bytes.count, armed: true).sorted { $0.afterOctets < $1.afterOctets }
            for firing in firings where end == nil {
                let cut = min(bytes.count, max(sent, firing.afterOctets))
                if cut > sent { outgoing.append(.bytes(Array(bytes[sent..<cut]))) }
                sent = cut
                strike(firing.rule, "after \(cut) octets of this handshake flight")
            }
            if end != nil { return }
        }
        if sent < bytes.count { outgoing.append(.bytes(sent == 0 ? bytes : Array(bytes[sent...]))) }
    }

    /// The peer's plaintext meets triggers where the peer wrote it: a reset cut after the
    /// match lets the endpoint read up to the cut and silences what it answers, as in the
    /// simulator, where the bytes before the cut arrive and the reply is lost.
    public func host(_ host: EndpointHost, willDeliver plain: [UInt8]) -> Int {
        let epoch = host.epoch
        log(.received(plain, tls: epoch == 1))
        if let onProgress, plain.contains(0x0A) { onProgress() }
        var shutdown = false
        var count = plain.count
        for firing in tracker.firings(plain, by: peerSide, epoch: epoch, armed: true) {
            switch faults.actions[firing.rule] {
            case .reset:
                count = min(count, firing.afterOctets)
                if !resetAfterDelivery {
                    // Logged where it strikes; carried out once the endpoint has read up to the cut.
                    log(.fault("reset after the peer wrote \(Self.preview(Array(plain.prefix(firing.afterOctets))))"))
                    resetAfterDelivery = true
                }
            case .shutdown:
                shutdown = true
            case .stall:
                strike(firing.rule, "after the peer wrote \(Self.preview(plain))")
            case .session, .cleartext, .recordSize:
                afterDelivery.append((firing.rule, "after the peer wrote \(Self.preview(plain))"))
            }
        }
        let step = tracker.advance(past: plain, by: peerSide)
        judge(Array(plain.prefix(count)), by: peerSide, step: step)
        guard end == nil else { return 0 }
        if shutdown {
            host.shutdown()
            return 0
        }
        return count
    }

    public func hostDidDeliver(_ host: EndpointHost) {
        let due = afterDelivery
        afterDelivery = []
        for (k, when) in due where end == nil { strike(k, when) }
        guard resetAfterDelivery, end == nil else { return }
        outgoing.append(.reset)
        end = .resetByFault
    }

    public func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup? {
        guard let tlsContext else { return nil }
        return .openSSL(context: tlsContext, serverName: serverName, verificationTime: Int64(Date().timeIntervalSince1970))
    }

    public func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? {
        tlsDetails = details
        return nil
    }

    public func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64) {
        timers[id]?.cancel()
        guard let clamp = timerClamp else {
            timers[id] = schedule(after: after, .timer(id, generation: generation))
            return
        }
        let continuation = continuation
        timers[id] = Task {
            let clock = ContinuousClock()
            let start = clock.now
            let full = Duration.nanoseconds(after)
            while true {
                let waited = clock.now - start
                let limit = clamp(id).map { min(full, .milliseconds(Int64($0 * 1000))) } ?? full
                if waited >= limit { break }
                do { try await Task.sleep(for: min(limit - waited, .seconds(1))) } catch { return }
            }
            continuation?.yield(.timer(id, generation: generation))
        }
    }

    public func hostPeerSentCloseNotify(_ host: EndpointHost) {
        log(.note("the peer sent close_notify"))
        closeReason = closeReason ?? .peerClosed
        host.peerClosed()
    }

    public func host(_ host: EndpointHost, event: EndpointHost.Event) {
        switch event {
        case .note(let note):
            log(.note(note.text))
        case .startingTLS:
            for k in tracker.firings(at: .tlsStarted, armed: true) { strike(k, "when TLS started") }
        case .tlsSetupFailed(let why):
            log(.tls(why))
        case .tlsEstablished(let details):
            log(.tls(Self.describe(details, role: endpoint.role)))
            keyLogLines = (host.tlsEngine as? TLSConnection)?.keyLogLines ?? []
            if let octets = faults.recordSize {
                host.recordSize = octets
                log(.fault("tls-record-size \(octets) for the session"))
            }
        case .tlsFailed(let failure):
            log(.tls("handshake failed: \(failure)"))
            closeReason = closeReason ?? .failed("TLS handshake failed: \(failure.kind.rawValue)")
        case .recordFailed(let failure):
            log(.tls("record layer failed: \(failure)"))
            closeReason = closeReason ?? .failed("TLS failed: \(failure.kind.rawValue)")
        case .resumedPlaintext(let end):
            log(.tls("back to plaintext after the session ended (\(end))"))
        case .writeAfterTLSEnd(let end, let octets):
            log(.note("a write of \(octets) octets after the TLS session ended (\(end)): not sent"))
        case .closing:
            break
        case .closed:
            outgoing.append(.finish)
            if end == nil { end = closeReason ?? .closed }
        }
    }
}
