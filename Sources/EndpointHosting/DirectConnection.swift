import SMTPTLS

/// The simplest driver of the endpoint host: a perfect in-memory pipe between a client and a
/// server host, or one host whose peer is the caller (a fuzz target, a unit test). No clock, no
/// faults, no trace: what it adds to the host is ordering and a record of the writes.
///
/// By default STARTTLS inserts a `PassThroughTLS` on each side, so tests of the SMTP machines pay
/// nothing for TLS yet still go through the host's TLS path; `tls` can give OpenSSL instead.
public final class DirectConnection: EndpointHostDriver {
    /// What an endpoint wrote (before any encryption), with its side's epoch.
    public struct Write: Sendable {
        public let side: Side
        public let epoch: Int
        public let bytes: [UInt8]
        /// Why this write broke the TLS boundary (`EndpointHost.writeBreaksTLSBoundary`), or nil.
        public let breaksTLSBoundary: String?
    }

    private enum Item {
        case bytes([UInt8], epoch: Int, handshake: Bool)
        case end
    }

    public private(set) var client: EndpointHost?
    public private(set) var server: EndpointHost?
    /// The TLS each side gets at STARTTLS.
    public var tls: (EndpointHost) -> EndpointHost.TLSSetup? = { .engine(PassThroughTLS(side: $0.side)) }
    /// The handshake result to report to a side instead of the engine's (nil: the engine's).
    public var handshakeReport: (EndpointHost) -> TLSReport? = { _ in nil }
    /// Rewrites what a side sent (epoch 0 plaintext, 1 inside TLS) as it is delivered: an
    /// attacker on the pipe. Handshake flights pass untouched.
    public var rewrite: (_ from: Side, _ epoch: Int, _ bytes: [UInt8]) -> [UInt8] = { $2 }
    /// How a delivery is cut into the reads the receiving host gets.
    public var segments: ([UInt8]) -> [ArraySlice<UInt8>] = { [$0[...]] }
    /// Every application write, in order.
    public private(set) var writes: [Write] = []
    /// Everything put on the stream, as sent (TLS records once TLS is in place).
    public private(set) var wire: [(from: Side, epoch: Int, bytes: [UInt8])] = []
    /// What the host without a peer here put on the stream (the caller plays that peer).
    public private(set) var output: [UInt8] = []
    /// False: the connection is gone, and the hosts carry nothing more out.
    public var isOpen = true
    /// Each host's events, in order.
    public private(set) var events: [(side: Side, event: EndpointHost.Event)] = []
    /// Timers armed (they fire only when the caller fires them).
    public private(set) var timers: [(side: Side, id: TimerID, generation: UInt64)] = []

    private var toServer: [Item] = []
    private var toClient: [Item] = []
    private var ended: Set<Side> = []

    public init(client: SimulatedEndpoint? = nil, server: SimulatedEndpoint? = nil) {
        self.client = client.map { EndpointHost(endpoint: $0, side: .client, driver: self) }
        self.server = server.map { EndpointHost(endpoint: $0, side: .server, driver: self) }
    }

    public func host(_ side: Side) -> EndpointHost? { side == .client ? client : server }

    /// Opens the connection (the server greets first) and runs until nothing is in flight or
    /// `maxDeliveries` deliveries were made (a pair that loops forever).
    public func run(maxDeliveries: Int = 10_000) {
        server?.start()
        client?.start()
        pump(maxDeliveries: maxDeliveries)
    }

    /// Octets from the caller, as the peer of `side`'s host, then whatever they set in motion.
    public func deliver(_ bytes: [UInt8], to side: Side) {
        guard let host = host(side) else { return }
        for segment in segments(bytes) where !host.closed { host.receive(Array(segment)) }
        pump(maxDeliveries: 10_000)
    }

    /// The caller, as the peer of `side`'s host, ends its TLS session after what it sent so
    /// far: close_notify (`alert` nil) or a fatal alert. Only a `PassThroughTLS` session can be
    /// ended this way (OpenSSL's is ended by records: `TLSSessionEvent`).
    public func endTLS(to side: Side, alert: TLSSessionAlert? = nil) {
        guard let host = host(side), let engine = host.tlsEngine as? PassThroughTLS, host.tlsEstablished else { return }
        engine.peerEnds(alert: alert)
        host.receive([])
        pump(maxDeliveries: 10_000)
    }

    /// `side`'s endpoint acts as if it had returned `actions` (a learner or a test driving one
    /// side by hand), then whatever they set in motion.
    public func act(_ side: Side, _ actions: [EndpointAction]) {
        host(side)?.apply(actions)
        pump(maxDeliveries: 10_000)
    }

    /// `side`'s host performs a TLS session event (docs/catalog.md I), then whatever it sets in
    /// motion; false where it cannot (no TLS session, or the engine cannot).
    public func perform(_ side: Side, _ event: TLSSessionEvent) -> Bool {
        guard let host = host(side), host.perform(event) else { return false }
        pump(maxDeliveries: 10_000)
        return true
    }

    /// Octets from `side` on the stream as they are, past its host and whatever its TLS state
    /// (cleartext after its TLS session ended: docs/catalog.md I), then whatever they set in motion.
    public func sendRaw(_ bytes: [UInt8], from side: Side) {
        guard !bytes.isEmpty else { return }
        wire.append((side, 2, bytes))
        send(.bytes(bytes, epoch: 2, handshake: false), from: side)
        pump(maxDeliveries: 10_000)
    }

    /// The caller, as the peer of `side`'s host, ends its stream.
    public func end(to side: Side) {
        host(side)?.peerClosed()
        pump(maxDeliveries: 10_000)
    }

    private func pump(maxDeliveries: Int) {
        var deliveries = 0
        while deliveries < maxDeliveries {
            let to: Side
            let item: Item
            if !toServer.isEmpty {
                to = .server
                item = toServer.removeFirst()
            } else if !toClient.isEmpty {
                to = .client
                item = toClient.removeFirst()
            } else {
                return
            }
            deliveries += 1
            guard let host = host(to) else { continue }
            switch item {
            case .bytes(let bytes, let epoch, let handshake):
                let delivered = handshake ? bytes : rewrite(to == .server ? .client : .server, epoch, bytes)
                for segment in segments(delivered) where !host.closed { host.receive(Array(segment)) }
            case .end:
                host.peerClosed()
            }
        }
    }

    private func send(_ item: Item, from side: Side) {
        let peer: Side = side == .client ? .server : .client
        guard host(peer) != nil else {
            if case .bytes(let bytes, _, _) = item { output += bytes }
            return
        }
        if side == .client { toServer.append(item) } else { toClient.append(item) }
    }

    // MARK: EndpointHostDriver

    public func isLive(_ host: EndpointHost) -> Bool { isOpen }
    public func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]? {
        writes.append(Write(side: host.side, epoch: host.epoch, bytes: bytes, breaksTLSBoundary: host.writeBreaksTLSBoundary))
        return bytes
    }
    public func hostDidWrite(_ host: EndpointHost) {}
    public func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) {
        guard !bytes.isEmpty else { return }
        wire.append((host.side, epoch, bytes))
        send(.bytes(bytes, epoch: epoch, handshake: handshake), from: host.side)
    }
    public func host(_ host: EndpointHost, willDeliver bytes: [UInt8]) -> Int { bytes.count }
    public func hostDidDeliver(_ host: EndpointHost) {}
    public func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup? { tls(host) }
    public func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? { handshakeReport(host) }
    public func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64) {
        timers.append((host.side, id, generation))
    }
    public func hostPeerSentCloseNotify(_ host: EndpointHost) { host.peerClosed() }
    public func host(_ host: EndpointHost, event: EndpointHost.Event) {
        events.append((host.side, event))
        if case .closed = event, !ended.contains(host.side) {
            ended.insert(host.side)
            send(.end, from: host.side)
        }
    }
}
