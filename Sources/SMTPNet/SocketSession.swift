import Foundation
import NIOCore
import SMTPTLS
import EndpointHosting

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
/// TCP connection: the edge twin of the simulator's connection loop. It owns the socket, the
/// wall-clock timers and the TLS engine for this connection; the endpoint stays pure.
///
/// One task drives everything (reads arrive through a bounded queue from a reader task), so the
/// endpoint and the `TLSConnection` are never touched concurrently.
public final class SocketSession {
    public let endpoint: SimulatedEndpoint
    let tlsContext: TLSContext?
    let serverName: String?
    let faults: StreamFaults
    let limits: SessionLimits
    let log: (WireEvent) -> Void

    public private(set) var tlsDetails: TLSSessionDetails?

    private var tls: TLSConnection?
    private var tlsEstablished = false
    private var closed = false
    private var end: SessionEnd?
    private var timers: [TimerID: (generation: Int, task: Task<Void, Never>)] = [:]
    private var generation = 0
    private var stalledUntil: ContinuousClock.Instant?
    private var resetWatch: TriggerWatch?
    private var stallWatch: TriggerWatch?
    private var shutdownWatch: TriggerWatch?
    private var outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>?
    private var continuation: AsyncStream<Event>.Continuation?
    private var mySide: Side { endpoint.role == .server ? .server : .client }
    private var peerSide: Side { endpoint.role == .server ? .client : .server }

    enum Event: Sendable {
        case bytes([UInt8])
        case eof
        case failed(String)
        case timer(TimerID, generation: Int)
        case deadline
        case faultTime
    }

    public init(endpoint: SimulatedEndpoint, tlsContext: TLSContext?, serverName: String? = nil, faults: StreamFaults = StreamFaults(), limits: SessionLimits = SessionLimits(), log: @escaping (WireEvent) -> Void) {
        self.endpoint = endpoint
        self.tlsContext = tlsContext
        self.serverName = serverName
        self.faults = faults
        self.limits = limits
        self.log = log
        let side: Side = endpoint.role == .server ? .server : .client
        resetWatch = faults.resetAt.map { TriggerWatch($0, side: side) }
        stallWatch = faults.stall.map { TriggerWatch($0.at, side: side) }
        shutdownWatch = faults.shutdownAt.map { TriggerWatch($0, side: side) }
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
                let queued = Valve(limit: limit)
                let result = await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await buffer in inbound {
                                continuation.yield(.bytes(Array(buffer: buffer)))
                                await queued.queued(buffer.readableBytes)
                            }
                            continuation.yield(.eof)
                        } catch {
                            continuation.yield(.failed(Sockets.describe(error)))
                        }
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
                for (_, t) in timers { t.task.cancel() }
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
        if resetWatch?.connectionOpened() == true { return faultReset("at connection open") }
        if case .atTime(let t)? = faults.resetAt { schedule(after: t, .faultTime) }
        if stallWatch?.connectionOpened() == true { beginStall() }
        await perform(endpoint.start())
        if shutdownWatch?.connectionOpened() == true { await perform(endpoint.shutdown()) }
        if let end { return end }
        for await event in events {
            switch event {
            case .bytes(let bytes):
                queued.consumed(bytes.count)
                await receive(bytes)
            case .eof:
                log(.note("the peer closed the connection"))
                if !closed { await perform(endpoint.peerClosed()) }
                return end ?? .peerClosed
            case .failed(let why):
                log(.note("connection failed: \(why)"))
                if !closed { await perform(endpoint.peerClosed()) }
                return end ?? .failed(why)
            case .timer(let id, let g):
                guard timers[id]?.generation == g else { continue }
                timers[id] = nil
                await perform(endpoint.timerFired(id))
            case .deadline:
                log(.note("session time limit (\(limits.sessionSeconds.formatted1) s) reached"))
                return end ?? .timedOut(seconds: limits.sessionSeconds)
            case .faultTime:
                return faultReset("at the scheduled time")
            }
            if let end { return end }
        }
        return end ?? .closed
    }

    // MARK: - Input

    private func receive(_ bytes: [UInt8]) async {
        guard let tls else {
            await deliver(bytes, epoch: 0)
            return
        }
        tls.receiveCiphertext(bytes)
        if !tlsEstablished {
            let status = tls.advanceHandshake()
            await writeCiphertext(tls.drainCiphertext(), handshake: true)
            if end != nil { return }
            switch status {
            case .needMoreData:
                return
            case .complete(let details):
                tlsEstablished = true
                tlsDetails = details
                log(.tls(Self.describe(details, role: endpoint.role)))
                await perform(endpoint.tlsFinished(TLSReport(completed: details, role: endpoint.role)))
            case .failed(let failure):
                log(.tls("handshake failed: \(failure)"))
                await perform(endpoint.tlsFinished(TLSReport(failed: failure)))
                finish(.failed("TLS handshake failed: \(failure.kind.rawValue)"))
                return
            }
        }
        guard !closed else { return }
        switch tls.readPlaintext() {
        case .data(let plain):
            await deliver(plain, epoch: 1)
        case .needMoreData:
            break
        case .closed:
            log(.note("the peer sent close_notify"))
            await perform(endpoint.peerClosed())
            finish(.peerClosed)
        case .failed(let failure):
            log(.tls("record layer failed: \(failure)"))
            await perform(endpoint.peerClosed())
            finish(.failed("TLS failed: \(failure.kind.rawValue)"))
        }
        await writeCiphertext(tls.drainCiphertext(), handshake: false)
    }

    /// Plaintext from the peer to the endpoint, unless a fault triggers on it first.
    private func deliver(_ plain: [UInt8], epoch: Int) async {
        log(.received(plain, tls: epoch == 1))
        if case .yes = resetWatch?.plaintext(plain, by: peerSide, epoch: epoch) {
            _ = faultReset("after the peer wrote \(Self.preview(plain))")
            return
        }
        if case .yes = stallWatch?.plaintext(plain, by: peerSide, epoch: epoch) { beginStall() }
        if case .yes = shutdownWatch?.plaintext(plain, by: peerSide, epoch: epoch) {
            await perform(endpoint.shutdown())
            return
        }
        await perform(endpoint.receive(plain))
    }

    // MARK: - Actions

    private func perform(_ actions: [EndpointAction]) async {
        for action in actions {
            guard end == nil else { return }
            switch action {
            case .send(let bytes):
                guard !closed else { continue }
                await send(bytes)
            case .startTLS:
                await startTLS()
            case .close:
                guard !closed else { continue }
                if let tls, tlsEstablished {
                    tls.sendCloseNotify()
                    await writeCiphertext(tls.drainCiphertext(), handshake: false)
                }
                outbound?.finish()
                finish(.closed)
            case .setTimer(let id, let after):
                timers[id]?.task.cancel()
                generation += 1
                timers[id] = (generation, schedule(after: after, .timer(id, generation: generation)))
            case .cancelTimer(let id):
                timers[id]?.task.cancel()
                timers[id] = nil
            case .note(let text):
                log(.note(text))
            }
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

    private func startTLS() async {
        guard let context = tlsContext else {
            log(.tls("no TLS configured"))
            await perform(endpoint.tlsFinished(TLSReport(established: false, peerVerified: false, failure: "internal-error")))
            return
        }
        if resetWatch?.tlsStarted() == true {
            _ = faultReset("when TLS started")
            return
        }
        if stallWatch?.tlsStarted() == true { beginStall() }
        do {
            let now = Int64(Date().timeIntervalSince1970)
            tls = try TLSConnection(context: context, serverName: endpoint.role == .client ? serverName : nil, verificationTime: now)
        } catch {
            log(.tls("TLS setup failed: \(error)"))
            await perform(endpoint.tlsFinished(TLSReport(established: false, peerVerified: false, failure: "internal-error")))
            return
        }
        if endpoint.role == .client, let tls {
            _ = tls.advanceHandshake()
            await writeCiphertext(tls.drainCiphertext(), handshake: true)
        }
    }

    private func send(_ bytes: [UInt8]) async {
        let epoch = tlsEstablished ? 1 : 0
        var out = bytes
        var resetAfter = false
        if case .yes(let n) = resetWatch?.plaintext(bytes, by: mySide, epoch: epoch) {
            out = n.map { Array(bytes.prefix($0)) } ?? bytes
            resetAfter = true
        }
        if case .yes = stallWatch?.plaintext(bytes, by: mySide, epoch: epoch) { beginStall() }
        if case .yes = shutdownWatch?.plaintext(bytes, by: mySide, epoch: epoch) {
            await perform(endpoint.shutdown())
            return
        }
        log(.sent(out, tls: epoch == 1))
        if let tls, tlsEstablished {
            do {
                try tls.writePlaintext(out)
            } catch {
                finish(.failed("TLS write failed: \(error)"))
                return
            }
            await writeCiphertext(tls.drainCiphertext(), handshake: false)
        } else {
            await write(out)
        }
        if resetAfter { _ = faultReset("after writing \(Self.preview(out))") }
    }

    private func writeCiphertext(_ bytes: [UInt8], handshake: Bool) async {
        guard !bytes.isEmpty else { return }
        if handshake, endpoint.role == .server, case .yes(let n) = resetWatch?.handshake(octets: bytes.count) {
            await write(Array(bytes.prefix(n ?? bytes.count)))
            _ = faultReset("after \(n ?? bytes.count) more handshake octets")
            return
        }
        await write(bytes)
    }

    /// Writes on the socket, with the split, delay and stall faults.
    private func write(_ bytes: [UInt8]) async {
        guard let outbound, end == nil, !bytes.isEmpty else { return }
        let segment = faults.maxSegment ?? bytes.count
        var offset = 0
        while offset < bytes.count {
            if let until = stalledUntil {
                stalledUntil = nil
                try? await Task.sleep(until: until)
            }
            if faults.delay > 0 { try? await Task.sleep(for: .nanoseconds(faults.delay)) }
            let chunk = bytes[offset..<min(bytes.count, offset + max(1, segment))]
            do {
                try await outbound.write(ByteBuffer(bytes: chunk))
            } catch {
                finish(.failed("write failed: \(Sockets.describe(error))"))
                return
            }
            offset += chunk.count
        }
    }

    private func beginStall() {
        guard let stall = faults.stall else { return }
        log(.fault("stall \(Double(stall.duration) / 1e9) s"))
        stalledUntil = .now + .nanoseconds(stall.duration)
    }

    private func faultReset(_ when: String) -> SessionEnd {
        log(.fault("reset \(when)"))
        finish(.resetByFault)
        return .resetByFault
    }

    private func finish(_ how: SessionEnd) {
        closed = true
        if end == nil { end = how }
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
