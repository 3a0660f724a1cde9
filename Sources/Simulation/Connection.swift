import EndpointHosting
import SMTPCore
import SMTPTLS

/// One direction of a byte stream.
final class Link {
    let direction: Direction
    var open = true
    /// Deliveries never overtake each other (TCP order): the next one is due no earlier.
    var nextFree: Int64 = 0
    var stalledUntil: Int64 = 0
    /// Bytes dropped from here on (truncation).
    var blackhole = false
    var coalesced: [UInt8] = []
    var coalescedEpoch = 0
    var flushScheduled = false

    init(direction: Direction) {
        self.direction = direction
    }
}

/// A connection between one client attempt and the server.
final class Connection {
    let id: Int
    let client: Int
    /// The hop (0: from the clients; 1: from the relay) and this connection's number on it, which
    /// fault rules' `connections` name.
    let hop: Int
    let ordinal: Int
    /// The hop's fault rules (what the tracker's rule indices index).
    let faults: [FaultRule]
    /// The two sides; this connection is their driver (it hands over to the world).
    private(set) var clientHost: EndpointHost!
    private(set) var serverHost: EndpointHost!
    /// The world owns its connections, so it outlives them.
    unowned(unsafe) let world: World
    let c2s = Link(direction: .clientToServer)
    let s2c = Link(direction: .serverToClient)
    var attacker: AttackerState?
    var finished = false
    /// Bumped on reset: events scheduled before are dropped.
    var generation = 0
    /// Session landmarks, the client's command lines, and which fault rules fired (the one
    /// tracker the socket edge uses too).
    var tracker: TriggerTracker
    /// For oracles: server replies inside TLS, in order.
    var serverTLSText: [UInt8] = []
    var serverSent235InTLS = false
    /// The server's reply streams, parsed as written (the reply-grammar oracle).
    var replyStreams = ReplyGrammarOracle.Streams()
    /// The TLS-intercepting attacker, once the client started TLS (docs/catalog.md C6).
    var interceptor: TLSInterceptor?
    /// The first EHLO reply inside TLS, once seen.
    var postTLSCapabilities: EHLOCapabilities?
    /// Effects to carry out once the current write has been put on the link.
    var pendingEffects: [FaultStep] = []
    /// A forced TLS failure class for the client's handshake.
    var forcedHandshakeFailure: TLSFailure.Kind?
    /// Where the session stood when a side's TLS session ended and it read on in the clear.
    var stateAtTLSEnd: [Side: String] = [:]
    /// Where the last fault that ended a TLS session struck (`at mid-bdat-chunk`).
    var tlsEndingFault: String?
    /// A record fault waiting for each side's next TLS record.
    var recordDamage: [Side: RecordDamage] = [:]
    /// Findings flagged on this connection (`World.findingsPerConnection` bounds what is kept).
    var findingCount = 0
    /// Sides already reported for reading the stream in the clear after their TLS session ended.
    var readAfterTLSEndReported: Set<Side> = []
    /// The judges of the client and of the server by what they wrote (`SessionJudge`).
    var judges: [SessionJudge]

    init(id: Int, client: Int, hop: Int = 0, ordinal: Int? = nil, clientEndpoint: SimulatedEndpoint, serverEndpoint: SimulatedEndpoint?,
         attacker: AttackerState?, faults: [FaultRule], world: World) {
        self.id = id
        self.client = client
        self.hop = hop
        self.ordinal = ordinal ?? id
        self.faults = faults
        self.world = world
        self.attacker = attacker
        tracker = TriggerTracker(rules: faults, connection: self.ordinal)
        let demands = world.clientPrograms.indices.contains(client) && world.clientPrograms[client].policy.demandsVerifiedTLS
        var clientJudge = SessionJudge(judged: .client, demandsVerifiedTLS: demands)
        clientJudge.implicitTLS = world.clientPrograms.indices.contains(client) && world.clientPrograms[client].implicitTLS
        judges = [clientJudge, SessionJudge(judged: .server)]
        clientHost = EndpointHost(endpoint: clientEndpoint, side: .client, driver: self)
        serverHost = EndpointHost(endpoint: serverEndpoint ?? clientEndpoint, side: .server, driver: self)
    }

    func host(_ side: Side) -> EndpointHost { side == .client ? clientHost : serverHost }
    func link(_ d: Direction) -> Link { d == .clientToServer ? c2s : s2c }
}

extension Connection: EndpointHostDriver {
    func isLive(_ host: EndpointHost) -> Bool { !finished }
    func host(_ host: EndpointHost, writes bytes: [UInt8]) -> [UInt8]? { world.host(self, host, writes: bytes) }
    func hostDidWrite(_ host: EndpointHost) { world.hostDidWrite(self, host) }
    func host(_ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) {
        world.host(self, host, transmit: bytes, epoch: epoch, handshake: handshake)
    }
    func host(_ host: EndpointHost, willDeliver bytes: [UInt8]) -> Int {
        world.record(id, .received(host.side == .client ? .serverToClient : .clientToServer, epoch: host.epoch, bytes: bytes))
        if host.side == .client { judges[0].clientRead(bytes, epoch: host.epoch) }
        return bytes.count
    }
    func hostDidDeliver(_ host: EndpointHost) {
        if host.epoch == 2 { TLSTeardownOracle().read(self, host.side, in: world) }
    }
    func tlsSetup(for host: EndpointHost) -> EndpointHost.TLSSetup? { world.tlsSetup(self, for: host) }
    func host(_ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? {
        world.host(self, host, handshakeCompleted: details)
    }
    func host(_ host: EndpointHost, schedule id: TimerID, generation: UInt64, after: Int64) {
        world.host(self, schedule: id, generation: generation, after: after, side: host.side)
    }
    func hostPeerSentCloseNotify(_ host: EndpointHost) { world.peerClosed(self, host.side, detail: "close_notify") }
    func host(_ host: EndpointHost, event: EndpointHost.Event) { world.host(self, host, event: event) }
}
