import SMTPCore
import SMTPTLS

/// One side of a connection: a byte stream below, an endpoint above, and — from the endpoint's
/// STARTTLS action on — a TLS engine between them (docs/design.md, "The endpoint host").
///
/// The one place that carries out an endpoint's actions: application bytes through TLS when it
/// is up, the TLS engine inserted at the STARTTLS action and its handshake advanced as ciphertext
/// arrives, close_notify at close, timers by generation so a stale one is ignored. The simulator
/// (`World`) and the socket edge (`SocketSession`) are two drivers of it; what differs between
/// them (virtual or wall-clock time, links with faults or a socket, the trace) is the driver's.
///
/// Sans-IO and single-threaded: the host never blocks, reads a clock or touches a socket; every
/// effect on the outside goes through the driver, synchronously, in order. Calls may nest (an
/// endpoint's actions can lead to more actions), as in a driver loop that runs to completion.
public final class EndpointHost {
    /// Where the TLS engine is.
    public enum TLSStage {
        /// No STARTTLS yet: the stream carries plaintext.
        case none
        /// The engine is in place; the handshake runs.
        case handshaking(any TLSEngine)
        /// The handshake completed; `peerVerified` as the endpoint was told.
        case established(any TLSEngine, peerVerified: Bool)
        /// The session ended (`end` says how): nothing more is written, and nothing read but
        /// what a peer may still send after this side's own close_notify.
        case ended(any TLSEngine, TLSEnd)
        /// The endpoint went back to the clear after the session ended (`.resumePlaintext`:
        /// only a flaw asks): the stream is read and written as plaintext, epoch 2.
        case clearAfterTLS(TLSEnd)
    }

    /// Octets kept after a TLS session ended, for an endpoint that then reads on in the clear
    /// (only a flaw does); beyond it they are dropped. RFC 5321 §4.5.3.1.4's 512-octet command
    /// line times 128.
    public static let heldAfterTLSEndLimit = 65_536

    /// What the host tells its driver, for traces, logs and bookkeeping.
    public enum Event {
        /// A line the endpoint noted.
        case note(Note)
        /// The TLS engine was inserted (before the first handshake flight).
        case startingTLS
        /// The engine could not be made (the endpoint is told `internal-error`).
        case tlsSetupFailed(String)
        /// The handshake completed and the endpoint is about to hear of it.
        case tlsEstablished(TLSSessionDetails)
        /// The handshake failed (the endpoint is about to hear of it).
        case tlsFailed(TLSFailure)
        /// A TLS record could not be read after the handshake; the host closes.
        case recordFailed(TLSFailure)
        /// This side closes (`detail` says why); close_notify, if any, follows on the stream.
        case closing(String)
        /// This side is closed and its stream should end (a FIN after the pending bytes).
        case closed
        /// The endpoint reads and writes in the clear after its TLS session ended.
        case resumedPlaintext(TLSEnd)
        /// A write the endpoint made after its TLS session ended was not sent.
        case writeAfterTLSEnd(TLSEnd, octets: Int)
    }

    /// The TLS a driver gives the host at STARTTLS.
    public enum TLSSetup {
        /// OpenSSL with this context; `verificationTime` is the second since 1970 at which
        /// certificates are checked (simulated or wall-clock).
        case openSSL(context: TLSContext, serverName: String?, verificationTime: Int64)
        /// An engine the driver made (a `PassThroughTLS` where only the SMTP matters).
        case engine(any TLSEngine)
    }

    public private(set) var endpoint: SimulatedEndpoint
    public let side: Side
    public private(set) var tls: TLSStage = .none
    public private(set) var closed = false
    /// Writes the endpoint made and plaintext octets it received inside TLS (the TLS-boundary
    /// oracle asks whether a side acted inside TLS before hearing anything there).
    public private(set) var writesInTLS = 0
    public private(set) var receivedInTLS = 0
    /// TLS began as the connection opened, before a plaintext octet either way (implicit TLS,
    /// RFC 8314 §3): there is no plaintext phase for anything to cross from.
    public private(set) var tlsFromFirstOctet = false
    /// A plaintext octet was written or received before TLS.
    private var plaintextSeen = false
    /// The first octets received inside an implicit-TLS handshake (`firstInboundKept`).
    private var firstInbound: [UInt8] = []
    /// Application data goes into records of at most this many octets (the `tls-record-size`
    /// fault); nil: as the engine chooses (16 KiB, RFC 8446 §5.1).
    public var recordSize: Int?
    /// Octets the endpoint was handed after its TLS session ended (only a flaw reads them).
    public private(set) var deliveredAfterTLSEnd = 0
    private var heldAfterEnd: [UInt8] = []
    /// After this side ended its session itself (its close_notify or alert) and went back to the
    /// clear, the peer's own closing records still arrive as TLS records (RFC 8446 §6.1): octets
    /// held until those records are past and cleartext starts; nil once it has (or when the peer
    /// ended the session). The records are not cleartext read after the end.
    private var peerRecordsAfterEnd: [UInt8]?
    private var timers: [TimerID: UInt64] = [:]  // lookups only, never iterated
    private var timerGeneration: UInt64 = 0
    /// The driver owns its hosts and outlives them (the contract of `EndpointHostDriver`), so
    /// the hot path pays no reference counting for it.
    unowned(unsafe) let driver: EndpointHostDriver

    /// A host for `endpoint` on `side` (the side its role names, unless a driver needs a
    /// placeholder for a connection that never opened).
    public init(endpoint: SimulatedEndpoint, side: Side? = nil, driver: EndpointHostDriver) {
        self.endpoint = endpoint
        self.side = side ?? (endpoint.role == .server ? .server : .client)
        self.driver = driver
    }

    /// 0 before STARTTLS, 1 once the TLS engine is in place, 2 in the clear after it ended.
    public var epoch: Int {
        switch tls {
        case .none: 0
        case .handshaking, .established, .ended: 1
        case .clearAfterTLS: 2
        }
    }

    /// How the TLS session ended, once it has.
    public var tlsEnd: TLSEnd? {
        switch tls {
        case .ended(_, let end), .clearAfterTLS(let end): end
        case .none, .handshaking, .established: nil
        }
    }

    /// The endpoint ended its own TLS session (a script's `close-notify` or `alert` step) and
    /// went on in the clear on purpose: what it writes and reads there is a probe of its peer,
    /// not a return to plaintext of software under test (docs/catalog.md I).
    public var inClearAfterOwnEnd: Bool {
        switch tls {
        case .clearAfterTLS(.closeNotifySent), .clearAfterTLS(.alertSent): true
        case .none, .handshaking, .established, .ended, .clearAfterTLS: false
        }
    }

    public var tlsEstablished: Bool {
        if case .established = tls { return true }
        return false
    }

    /// The endpoint was told the peer's certificate verified (or a PSK authenticated it).
    public var peerVerified: Bool {
        if case .established(_, let verified) = tls { return verified }
        return false
    }

    /// Why a write by this side now would break the TLS boundary, or nil (RFC 3207 §4.2;
    /// docs/catalog.md D1–D3): inside TLS, a server writes only in answer to something it
    /// received inside TLS, and a client sends one command (its EHLO) before it hears anything
    /// there. A side that writes sooner acted on bytes from before the handshake
    /// (CVE-2011-0411 on a server; response injection on a client). Judged before the write. A
    /// write a timer or the operator caused (an idle session's 421, a timed-out client's QUIT)
    /// acts on no bytes, and breaks nothing.
    public var writeBreaksTLSBoundary: String? {
        // Implicit TLS has no before: nothing crossed a boundary (RFC 8314 §3).
        guard tlsEstablished, !tlsFromFirstOctet, receivedInTLS == 0, actingUnprompted == 0 else { return nil }
        switch side {
        case .server: return "the server wrote inside TLS before receiving anything inside TLS: it acted on bytes that arrived before the handshake"
        case .client:
            guard writesInTLS >= 1 else { return nil }
            return "the client sent a second command inside TLS before receiving anything inside TLS: it acted on replies from before the handshake"
        }
    }

    public var tlsEngine: (any TLSEngine)? {
        switch tls {
        case .none, .clearAfterTLS: nil
        case .handshaking(let t), .established(let t, _), .ended(let t, _): t
        }
    }

    // MARK: - Inputs

    /// The connection is open.
    public func start() { apply(endpoint.start()) }

    /// The operator shuts the service down (async 421).
    public func shutdown() {
        actingUnprompted += 1
        defer { actingUnprompted -= 1 }
        apply(endpoint.shutdown())
    }

    /// Octets from the stream (ciphertext once TLS is in place).
    public func receive(_ bytes: [UInt8]) {
        guard !closed else { return }
        switch tls {
        case .none:
            plaintextSeen = true
            deliver(bytes)
            return
        case .clearAfterTLS:
            deliverAfterEnd(bytes)
            return
        case .ended(let engine, .closeNotifySent):
            // The peer may still send until its own close_notify (RFC 8446 §6.1); once what it
            // sent failed as TLS (cleartext from a peer gone back to the clear), the rest is
            // dropped, so such a peer cannot make the engine buffer without bound.
            guard engine.failure == nil else { return }
            engine.receiveCiphertext(bytes)
            readPlaintext()
            return
        case .ended:
            let room = max(0, Self.heldAfterTLSEndLimit - heldAfterEnd.count)
            heldAfterEnd += bytes.prefix(room)
            return
        case .handshaking, .established:
            break
        }
        guard let engine = tlsEngine else { return }
        if tlsFromFirstOctet, !tlsEstablished, firstInbound.count < Self.firstInboundKept {
            firstInbound += bytes.prefix(Self.firstInboundKept - firstInbound.count)
        }
        engine.receiveCiphertext(bytes)
        if !tlsEstablished {
            advanceHandshake(engine)
            guard tlsEstablished else { return }
        }
        readPlaintext()
    }

    /// A timer the driver scheduled for `(id, generation)` ran out.
    public func timerFired(_ id: TimerID, generation: UInt64) {
        guard !closed, timers[id] == generation else { return }
        timers[id] = nil
        actingUnprompted += 1
        defer { actingUnprompted -= 1 }
        apply(endpoint.timerFired(id))
    }

    /// Inside a timer's or the operator's action: what the endpoint writes now answers time, not
    /// bytes it read (a 421 for an idle session inside TLS is no reading across the boundary).
    private var actingUnprompted = 0

    /// The peer closed its side (a FIN) or sent close_notify.
    public func peerClosed() {
        guard !closed else { return }
        if case .ended(_, .closeNotifyReceived) = tls, !toldEndpointOfEnd {
            toldEndpointOfEnd = true
            apply(endpoint.tlsEnded(.closeNotifyReceived))
            // A flawed endpoint may read on in the clear after the peer's close_notify…
            if !closed, !inClearAfterTLS { close(detail: "after the peer closed") }
        } else {
            apply(endpoint.peerClosed())
            // …but not after its FIN: the stream is over whatever the endpoint reads.
            if !closed { close(detail: "after the peer closed") }
        }
    }

    private var toldEndpointOfEnd = false
    private var inClearAfterTLS: Bool {
        if case .clearAfterTLS = tls { return true }
        return false
    }

    /// This side performs a TLS session event (a fault): close_notify or a fatal alert ends the
    /// session for it (its endpoint is not told: the stack did it), a KeyUpdate or a
    /// renegotiation goes on. False, with nothing sent, outside an established session or where
    /// the engine cannot (see `TLSSessionAlert`).
    @discardableResult
    public func perform(_ event: TLSSessionEvent) -> Bool {
        guard !closed, case .established(let engine, _) = tls, event.perform(on: engine) else { return false }
        switch event {
        case .closeNotify: tls = .ended(engine, .closeNotifySent)
        case .alert(let alert): tls = .ended(engine, .alertSent(alert))
        case .keyUpdate, .renegotiate: break
        }
        driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
        return true
    }

    /// The connection broke: the endpoint hears that its peer is gone, and nothing it does about
    /// it reaches the stream. Returns the notes it made.
    public func reset() -> [String] {
        guard !closed else { return [] }
        let actions = endpoint.peerClosed()
        markGone()
        var notes: [String] = []
        for case .note(let note) in actions { notes.append(note.text) }
        return notes
    }

    /// The driver is done with the connection: nothing more is carried out.
    public func markGone() {
        closed = true
        timers.removeAll()
    }

    /// The driver will never use this host again: the endpoint (its machine and its buffers) and
    /// the TLS engine (OpenSSL's connection) are let go; what the host reports stays. A simulated
    /// run holds every connection until it ends; this keeps a finished one to a few hundred octets.
    public func release() {
        markGone()
        endpoint = ReleasedEndpoint(role: endpoint.role)
        tls = .none
        heldAfterEnd = []
    }

    /// Carries out the endpoint's actions in order, while the driver's connection is live.
    public func apply(_ actions: [EndpointAction]) {
        for action in actions {
            guard driver.isLive(self) else { return }
            switch action {
            case .send(let bytes):
                guard !closed else { continue }
                write(bytes)
            case .startTLS:
                startTLS()
            case .close:
                close(detail: "closed by the endpoint")
            case .setTimer(let id, let after):
                timerGeneration += 1
                timers[id] = timerGeneration
                driver.host(self, schedule: id, generation: timerGeneration, after: after)
            case .cancelTimer(let id):
                timers[id] = nil
            case .note(let text):
                driver.host(self, event: .note(text))
            case .perform(let event):
                if !perform(event) { driver.host(self, event: .note("\(event): no established TLS session on this side")) }
            case .resumePlaintext:
                guard case .ended(let engine, let end) = tls else { continue }
                tls = .clearAfterTLS(end)
                switch end {
                case .closeNotifySent, .alertSent: peerRecordsAfterEnd = []
                case .closeNotifyReceived, .failed: peerRecordsAfterEnd = nil
                }
                driver.host(self, event: .resumedPlaintext(end))
                let leftover = engine.takeUnreadInput() + heldAfterEnd
                heldAfterEnd = []
                if !leftover.isEmpty { deliverAfterEnd(leftover) }
            }
        }
    }

    // MARK: - Writing

    private func write(_ original: [UInt8]) {
        guard let bytes = driver.host(self, writes: original) else { return }
        if tlsEstablished { writesInTLS += 1 }
        guard driver.isLive(self) else { return }
        switch tls {
        case .none:
            plaintextSeen = true
            driver.host(self, transmit: bytes, epoch: 0, handshake: false)
        case .handshaking:
            return  // nothing leaves between the 220 and the end of the handshake
        case .established(let engine, _):
            do {
                if let size = recordSize, size > 0, bytes.count > size {
                    var start = 0
                    while start < bytes.count {
                        try engine.writePlaintext(Array(bytes[start..<min(bytes.count, start + size)]))
                        start += size
                    }
                } else {
                    try engine.writePlaintext(bytes)
                }
            } catch {
                driver.host(self, event: .note("TLS write failed: \(error)"))
            }
            driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
        case .ended(_, let end):
            driver.host(self, event: .writeAfterTLSEnd(end, octets: bytes.count))
            return
        case .clearAfterTLS:
            driver.host(self, transmit: bytes, epoch: 2, handshake: false)
        }
        driver.hostDidWrite(self)
    }

    /// This side closes: close_notify inside TLS, then the stream ends.
    public func close(detail: String) {
        guard !closed else { return }
        markGone()
        driver.host(self, event: .closing(detail))
        switch tls {
        case .established(let engine, _), .ended(let engine, .closeNotifyReceived):
            // Each side sends close_notify before closing its write side (RFC 8446 §6.1).
            engine.sendCloseNotify()
            driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
        case .none, .handshaking, .ended, .clearAfterTLS:
            break
        }
        driver.host(self, event: .closed)
    }

    // MARK: - TLS

    private func startTLS() {
        guard case .none = tls, !closed else { return }
        guard let setup = driver.tlsSetup(for: self) else {
            driver.host(self, event: .tlsSetupFailed("no TLS configured"))
            apply(endpoint.tlsFinished(TLSReport(established: false, peerVerified: false, failure: .internalError)))
            return
        }
        let engine: any TLSEngine
        switch setup {
        case .engine(let given):
            engine = given
        case .openSSL(let context, let serverName, let verificationTime):
            do {
                engine = try TLSConnection(context: context, serverName: side == .client ? serverName : nil, verificationTime: verificationTime)
            } catch {
                driver.host(self, event: .tlsSetupFailed("setup failed: \(error)"))
                apply(endpoint.tlsFinished(TLSReport(established: false, peerVerified: false, failure: .internalError)))
                return
            }
        }
        tls = .handshaking(engine)
        tlsFromFirstOctet = !plaintextSeen
        driver.host(self, event: .startingTLS)
        guard driver.isLive(self) else { return }
        // The client speaks first; the server's next bytes from the stream are the ClientHello.
        if side == .client { advanceHandshake(engine) }
    }

    private func advanceHandshake(_ engine: any TLSEngine) {
        let status = engine.advanceHandshake()
        driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: true)
        guard driver.isLive(self) else { return }
        switch status {
        case .needMoreData:
            return
        case .complete(let details):
            let report = driver.host(self, handshakeCompleted: details) ?? TLSReport(completed: details, role: endpoint.role)
            guard report.established else {
                apply(endpoint.tlsFinished(report))
                if !closed { close(detail: "handshake failed") }
                return
            }
            tls = .established(engine, peerVerified: report.peerVerified)
            driver.host(self, event: .tlsEstablished(details))
            apply(endpoint.tlsFinished(report))
            // Application data may have arrived with the last handshake flight.
            readPlaintext()
        case .failed(let engineFailure):
            var failure = engineFailure
            var report = TLSReport(failed: failure)
            if let greeting = clearGreetingInsteadOfTLS(failure) {
                // RFC 8314 §3: an implicit-TLS peer met a service that speaks SMTP in the clear
                // (a STARTTLS or plaintext port): TLS was not offered, as RFC 8460 §4.3.1 says.
                failure = TLSFailure(failure.kind, reason: "the peer spoke SMTP in the clear (\(BytePreview.text(greeting, limit: 24))) where implicit TLS was expected: a STARTTLS or plaintext service (RFC 8314 §3)", openSSL: failure.openSSL)
                report = TLSReport(failed: failure)
                report.rfc8460ResultType = .starttlsNotSupported
            }
            driver.host(self, event: .tlsFailed(failure))
            apply(endpoint.tlsFinished(report))
            if !closed { close(detail: "handshake failed") }
        }
    }

    /// Octets kept of what arrived first inside an implicit-TLS handshake: enough to tell an
    /// SMTP reply (`220 `) from a TLS record.
    static let firstInboundKept = 24

    /// What arrived first, when an implicit-TLS handshake failed on bytes that are an SMTP reply
    /// line (three digits, then a space or a hyphen: RFC 5321 §4.2) rather than a TLS record.
    private func clearGreetingInsteadOfTLS(_ failure: TLSFailure) -> [UInt8]? {
        guard tlsFromFirstOctet, failure.kind == .malformedRecord, firstInbound.count >= 4 else { return nil }
        // The reply parser's own line check (the three octets of the head are all it needs).
        let head = firstInbound.prefix(4).withUnsafeBufferPointer { (try? ReplyParser().parseLine($0)) != nil }
        return head ? firstInbound : nil
    }

    private func readPlaintext() {
        guard !closed else { return }
        let engine: any TLSEngine
        switch tls {
        case .established(let e, _), .ended(let e, .closeNotifySent): engine = e
        case .none, .handshaking, .ended, .clearAfterTLS: return
        }
        switch engine.readPlaintext() {
        case .data(let plain):
            receivedInTLS += plain.count
            driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
            deliver(plain)
            if engine.receivedCloseNotify { peerClosedTLS(engine) }
            // What came after the data failed (cleartext behind a record): the session is over.
            if let failure = engine.failure, case .established = tls, !closed { recordFailed(engine, failure) }
        case .needMoreData:
            // A KeyUpdate answered, a renegotiation under way: the engine may have written.
            driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
        case .closed:
            peerClosedTLS(engine)
        case .failed(let failure):
            guard case .established = tls else { return }  // already ended by this side's alert
            recordFailed(engine, failure)
        }
    }

    /// A record could not be read (or a fatal alert came): the session ends; the endpoint hears
    /// it as the connection lost, and the host closes unless a flawed endpoint reads on.
    private func recordFailed(_ engine: any TLSEngine, _ failure: TLSFailure) {
        driver.host(self, event: .recordFailed(failure))
        driver.host(self, transmit: engine.drainCiphertext(), epoch: 1, handshake: false)
        tls = .ended(engine, .failed(failure))
        apply(endpoint.tlsEnded(.failed(failure)))
        if !closed, !inClearAfterTLS { close(detail: "TLS record failure") }
    }

    private func peerClosedTLS(_ engine: any TLSEngine) {
        guard !closed else { return }
        if case .established = tls { tls = .ended(engine, .closeNotifyReceived) }
        driver.hostPeerSentCloseNotify(self)
    }

    /// Octets after the TLS session ended, to an endpoint that reads on in the clear: the peer's
    /// closing records first skipped (`peerRecordsAfterEnd`).
    private func deliverAfterEnd(_ incoming: [UInt8]) {
        var bytes = incoming
        if var held = peerRecordsAfterEnd {
            held += incoming.prefix(max(0, Self.heldAfterTLSEndLimit - held.count))
            let front = TLSRecords.leading(held)
            if front.incomplete {
                peerRecordsAfterEnd = Array(held[front.end...])
                return
            }
            peerRecordsAfterEnd = front.end == held.count ? [] : nil
            bytes = Array(held[front.end...])
            guard !bytes.isEmpty else { return }
        }
        deliveredAfterTLSEnd += bytes.count
        deliver(bytes)
    }

    /// Plaintext from the peer to the endpoint, as much of it as the driver lets through.
    private func deliver(_ plain: [UInt8]) {
        let count = min(plain.count, max(0, driver.host(self, willDeliver: plain)))
        if count > 0 { apply(endpoint.receive(count == plain.count ? plain : Array(plain.prefix(count)))) }
        driver.hostDidDeliver(self)
    }
}

/// A TLS session event a driver makes one side perform: a fault in the simulator or on a
/// socket, or the proxy on either of its sessions (docs/catalog.md I).
public enum TLSSessionEvent: Hashable, Sendable, CustomStringConvertible {
    case closeNotify
    case alert(TLSSessionAlert)
    case keyUpdate(requestingPeerUpdate: Bool)
    case renegotiate

    /// Makes `engine` perform it; false, with nothing sent, where it cannot.
    public func perform(on engine: any TLSEngine) -> Bool {
        switch self {
        case .closeNotify:
            engine.sendCloseNotify()
            return true
        case .alert(let alert): return engine.sendFatalAlert(alert)
        case .keyUpdate(let requesting): return engine.sendKeyUpdate(requestingPeerUpdate: requesting)
        case .renegotiate: return engine.renegotiate()
        }
    }

    public var description: String {
        switch self {
        case .closeNotify: "close_notify"
        case .alert(let alert): "fatal alert \(alert.rawValue)"
        case .keyUpdate(let requesting): "KeyUpdate\(requesting ? " (update_requested)" : "")"
        case .renegotiate: "renegotiation"
        }
    }
}

/// What an `EndpointHost` needs from whoever owns the stream, the clock and the record. The
/// driver owns the hosts it drives and must outlive them.
public protocol EndpointHostDriver: AnyObject {
    /// False once the connection is gone: the host stops carrying out actions.
    func isLive(_ host: EndpointHost) -> Bool
    /// The endpoint writes application bytes (plaintext, before any encryption). Returns what
    /// to put through (a fault may cut or replace it), or nil for nothing.
    func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]?
    /// A write's bytes are on their way (a fault waiting for them may strike now).
    func hostDidWrite(_ host: EndpointHost)
    /// Octets for the stream: plaintext (epoch 0) or TLS records (epoch 1); `handshake` marks a
    /// handshake flight.
    func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool)
    /// Plaintext from the peer is about to reach the endpoint: how many of its octets to hand
    /// over (a fault may cut it, or hold it all back with 0).
    func host(_ host: EndpointHost, willDeliver bytes: [UInt8]) -> Int
    /// What was handed over has been read by the endpoint (a fault waiting for it may strike).
    func hostDidDeliver(_ host: EndpointHost)
    /// The TLS for this side at STARTTLS, or nil when there is none.
    func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup?
    /// The handshake completed: a report to give the endpoint instead (a forced failure, or a
    /// stand-in engine's made-up certificate result), or nil for what the engine established.
    func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport?
    /// Arm a timer: call `timerFired(id, generation:)` after `after` nanoseconds.
    func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64)
    /// The peer ended its TLS session (close_notify).
    func hostPeerSentCloseNotify(_ host: EndpointHost)
    func host(_ host: EndpointHost, event: EndpointHost.Event)
}
