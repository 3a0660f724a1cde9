import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Synchronization

/// The deterministic world of one run: a virtual clock, one event queue, one seeded generator,
/// and the connections between client programs and the server program, each a pair of links
/// with faults and, optionally, an on-path attacker.
///
/// Rules (docs/design.md 5–8): nothing here reads a clock, a file or system randomness; OpenSSL draws
/// from the run's seed; nothing that shapes behaviour or the trace iterates a Dictionary or Set;
/// faults are values and strike only inside the fault window; then the run must reach an outcome
/// within the event budget.
public final class World {
    public let configuration: SimulationConfiguration
    public private(set) var now: Int64 = 0
    public private(set) var trace = Trace()
    public private(set) var processedEvents = 0
    public private(set) var budgetExhausted = false
    /// A session was still running when the liveness window closed.
    public private(set) var deadlinePassed = false

    let serverProgram: ServerProgram
    let clientPrograms: [ClientProgram]
    var rng: SimRandom
    var scheduler = Scheduler<Event>()
    var connections: [Connection] = []
    var clientDone: [Bool]
    var doneCount = 0
    var findings: [Finding] = []
    var keyLogLines: [String] = []
    let serverContext: TLSContext?
    let clientContexts: [TLSContext]
    let factory: CertificateFactory?
    let serverIdentity: TLSIdentity?
    /// The attacker's contexts for TLS interception (docs/catalog.md C6).
    let attackerContexts: (facingClient: TLSContext, facingServer: TLSContext)?

    enum Event {
        case connect(client: Int)
        case deliver(connection: Int, Direction, [UInt8], epoch: Int, generation: Int)
        case fin(connection: Int, Direction, generation: Int)
        case timer(connection: Int, Side, TimerID, generation: UInt64)
        case flush(connection: Int, Direction)
        case timedFault(connection: Int, rule: Int)
        /// TLS records reaching the intercepting attacker.
        case intercept(connection: Int, Direction, [UInt8], generation: Int)
        /// A fault effect due once the bytes before its cut have arrived (boxed: a `FaultEffect`
        /// inline would make every event costly to copy and destroy, and effects are rare).
        case effect(connection: Int, Boxed<FaultEffect>, generation: Int)
        case connectTimedOut(client: Int, connection: Int)
    }

    /// Builds the world. Seeds OpenSSL's randomness for this thread before any TLS object exists.
    /// `trace`: how much the trace records (the digest is the same whether or not the events are
    /// kept; text, HTML, pcap and the expectations on what was written read them).
    public init(configuration: SimulationConfiguration, serverProgram: ServerProgram? = nil, clientPrograms: [ClientProgram]? = nil,
                trace detail: TraceDetail = .events) throws {
        self.configuration = configuration
        trace = Trace(detail: detail)
        rng = SimRandom(seed: configuration.seed)
        DeterministicRandom.seed(SimRandom.derive(configuration.seed, "openssl"))
        self.serverProgram = serverProgram ?? BuiltInServerProgram(configuration: configuration.seededServerConfiguration)
        self.clientPrograms = clientPrograms ?? configuration.clients.indices.map {
            BuiltInClientProgram(configuration: configuration.seededClientConfiguration($0), messages: configuration.clients[$0].messages)
        }
        clientDone = Array(repeating: false, count: self.clientPrograms.count)
        // TLS contexts, made once per run after seeding.
        let host = configuration.clients.first?.configuration.serverName ?? configuration.server.configuration.hostname
        switch configuration.tls {
        case .full:
            let f = try CertificateFactory(seed: configuration.seed, epoch: configuration.epoch, keyType: configuration.server.keyType)
            factory = f
            let identity = try configuration.server.identity ?? f.serverIdentity(hostname: host, variant: configuration.server.certificate)
            serverIdentity = identity
            var server = TLSConfiguration.server(identity)
            server.minimumVersion = configuration.server.minimumTLSVersion
            server.maximumVersion = configuration.server.maximumTLSVersion
            server.securityLevel = configuration.server.securityLevel ?? (configuration.server.certificate == .weakKey ? 0 : nil)
            serverContext = try TLSContext(server)
            // One context per distinct client TLS configuration (SSL_CTX_new is costly in OpenSSL 3).
            var cache: [TLSConfiguration: TLSContext] = [:]  // lookups only
            clientContexts = try configuration.clients.map { spec in
                var c = TLSConfiguration(role: .client)
                switch spec.trust {
                case .factoryCA: c.trust = .anchors(f.trustAnchors)
                case .pinnedServerCertificate: c.trust = .pinned(identity.leaf)
                case .none: c.trust = .none
                }
                // Opportunistic clients record verification but do not enforce it (RFC 7435).
                c.enforceVerification = spec.configuration.policy.demandsVerifiedTLS && !spec.configuration.has(.ignoresCertificateErrors)
                c.keyLog = configuration.keyLog
                if let existing = cache[c] { return existing }
                let context = try TLSContext(c)
                cache[c] = context
                return context
            }
        case .cheap(let mode):
            factory = nil
            serverIdentity = nil
            let reuse = configuration.reuseCheapTLSContexts
            let psk = PreSharedKey.derived(seed: reuse ? 0 : configuration.seed, mode: mode)
            var client = TLSConfiguration.cheap(role: .client, psk: psk)
            client.keyLog = configuration.keyLog
            serverContext = try reuse ? CheapContextCache.context(.cheap(role: .server, psk: psk)) : TLSContext(.cheap(role: .server, psk: psk))
            let context = try reuse ? CheapContextCache.context(client) : TLSContext(client)
            clientContexts = configuration.clients.map { _ in context }
        }
        if configuration.attacker.contains(.interceptTLS), let f = factory {
            let fake = try f.serverIdentity(hostname: host, variant: .untrustedCA)
            attackerContexts = (try TLSContext(.server(fake)), try TLSContext(TLSConfiguration(role: .client)))
        } else {
            attackerContexts = nil
        }
        for (index, spec) in configuration.clients.enumerated() where index < self.clientPrograms.count {
            scheduler.schedule(at: spec.connectAt, .connect(client: index))
        }
        for index in configuration.clients.count..<self.clientPrograms.count {
            scheduler.schedule(at: 0, .connect(client: index))
        }
    }

    // MARK: - Running

    /// Runs until every client is done, the queue is empty, or the budget is spent.
    public func run() -> RunResult {
        while doneCount < clientDone.count, let entry = scheduler.pop() {
            guard processedEvents < configuration.eventBudget else {
                budgetExhausted = true
                break
            }
            let (deadline, overflow) = configuration.faultWindow.addingReportingOverflow(configuration.livenessWindow)
            if !overflow, entry.time > deadline {
                deadlinePassed = true
                break
            }
            processedEvents += 1
            now = entry.time
            handle(entry.payload)
        }
        DeterministicRandom.clear()
        return finish()
    }

    private func handle(_ event: Event) {
        switch event {
        case .connect(let client):
            connect(client)
        case .deliver(let id, let direction, let bytes, let epoch, let generation):
            let c = connections[id - 1]
            guard c.generation == generation, c.link(direction).open else { return }
            record(id, .delivered(direction, epoch: epoch, bytes: bytes))
            c.host(direction == .clientToServer ? .server : .client).receive(bytes)
        case .fin(let id, let direction, let generation):
            let c = connections[id - 1]
            guard c.generation == generation, c.link(direction).open else { return }
            c.link(direction).open = false
            let receiver: Side = direction == .clientToServer ? .server : .client
            peerClosed(c, receiver, detail: "peer closed its side")
        case .timer(let id, let side, let name, let generation):
            connections[id - 1].host(side).timerFired(name, generation: generation)
        case .flush(let id, let direction):
            let c = connections[id - 1]
            let link = c.link(direction)
            let pending = link.coalesced
            link.coalesced = []
            link.flushScheduled = false
            if !pending.isEmpty { transmit(c, direction, pending, epoch: link.coalescedEpoch, coalescing: false) }
        case .timedFault(let id, let rule):
            let c = connections[id - 1]
            fire(c, ruleIndex: rule)
        case .intercept(let id, let direction, let bytes, let generation):
            let c = connections[id - 1]
            guard c.generation == generation, c.link(direction).open else { return }
            intercepted(c, direction, bytes)
        case .effect(let id, let effect, let generation):
            let c = connections[id - 1]
            guard c.generation == generation, !c.finished else { return }
            fire(c, effect: effect.value, direction: nil)
        case .connectTimedOut(let client, let id):
            record(id, .fault(name: "connect-timeout", detail: "no connection for client \(client)"))
            scheduleNext(client, clientPrograms[client].connectionFailed(reason: "connection timed out"))
        }
    }

    // MARK: - Connections

    private func connect(_ client: Int) {
        guard let endpoint = clientPrograms[client].nextConnection() else {
            markDone(client)
            return
        }
        let id = connections.count + 1
        record(id, .connect(client: client, attempt: id))
        for (k, rule) in configuration.faults.enumerated() where rule.applies(to: id) && now < configuration.faultWindow {
            switch rule.effect {
            case .refuseConnection:
                record(id, .fault(name: "refuse-connection", detail: "rule \(k)"))
                connections.append(Connection(id: id, client: client, clientEndpoint: endpoint, serverEndpoint: nil, attacker: nil, faults: configuration.faults, world: self))
                connections[id - 1].finished = true
                scheduleNext(client, clientPrograms[client].connectionFailed(reason: "connection refused"))
                return
            case .connectTimeout(let after):
                connections.append(Connection(id: id, client: client, clientEndpoint: endpoint, serverEndpoint: nil, attacker: nil, faults: configuration.faults, world: self))
                connections[id - 1].finished = true
                scheduler.schedule(at: later(after), .connectTimedOut(client: client, connection: id))
                return
            case .latency, .split, .coalesce, .stall, .reset, .resetProbability, .halfClose, .truncate, .corrupt, .replaceReply,
                .failHandshake, .async421, .tlsCloseNotify, .tlsAlert, .tlsTruncatedRecord, .tlsBadRecord, .tlsRecordSize, .tlsKeyUpdate,
                .tlsRenegotiate, .plaintextAfterTLS:
                continue
            }
        }
        let server = serverProgram.accept(connection: id)
        let c = Connection(
            id: id, client: client, clientEndpoint: endpoint, serverEndpoint: server,
            attacker: configuration.attacker.isEmpty ? nil : AttackerState(actions: configuration.attacker), faults: configuration.faults, world: self)
        connections.append(c)
        // Time-triggered and connect-triggered faults.
        for (k, rule) in configuration.faults.enumerated() where rule.applies(to: id) {
            switch rule.at?.resolved {
            case .atTime(let t)?: scheduler.schedule(at: max(now, t), .timedFault(connection: id, rule: k))
            case .connectionOpened?: fire(c, ruleIndex: k)
            case nil, .write?, .tlsStarted?, .handshakeBytes?, .midBody?, .finalReply?, .midChunk?, .betweenChunks?, .phase?: break
            }
        }
        if c.finished { return }
        c.serverHost.start()
        c.clientHost.start()
    }

    /// The client's connection is over: ask its program what next.
    func connectionEnded(_ c: Connection) {
        guard !c.finished else { return }
        c.finished = true
        c.generation += 1
        c.clientHost.markGone()
        c.serverHost.markGone()
        scheduleNext(c.client, clientPrograms[c.client].connectionFinished(c.clientHost.endpoint))
        // The program has read what it needs of the machines: a finished connection keeps only
        // what the end-of-run oracles read of it (Connection's own fields).
        c.clientHost.release()
        c.serverHost.release()
    }

    private func scheduleNext(_ client: Int, _ next: SMTPClient.Next) {
        switch next {
        case .retry(let delay): scheduler.schedule(at: later(delay), .connect(client: client))
        case .done: markDone(client)
        }
    }

    private func markDone(_ client: Int) {
        guard !clientDone[client] else { return }
        clientDone[client] = true
        doneCount += 1
    }

    /// `now + delay`, saturating (delays come from users and fuzzers).
    func later(_ delay: Int64) -> Int64 {
        let (sum, overflow) = now.addingReportingOverflow(max(0, delay))
        return overflow ? Int64.max : sum
    }

    /// Records an event; its kind (and the text in it) is made only when the trace hashes or
    /// keeps events, not when it only counts them.
    func record(_ connection: Int, _ kind: @autoclosure () -> TraceEvent.Kind) {
        trace.append(time: now, connection: connection, kind())
    }

    func report(_ finding: Finding) {
        guard !findings.contains(where: { $0.oracle == finding.oracle && $0.explanation == finding.explanation }) else { return }
        findings.append(finding)
        record(0, .finding(finding))
    }
}

/// The process-wide contexts of `reuseCheapTLSContexts`, made with a fixed seed so that making
/// one draws nothing from the run's stream.
enum CheapContextCache {
    private static let contexts = Mutex<[TLSConfiguration: TLSContext]>([:])

    static func context(_ configuration: TLSConfiguration) throws -> TLSContext {
        if let existing = contexts.withLock({ $0[configuration] }) { return existing }
        let made = try DeterministicRandom.with(seed: 0) { try TLSContext(configuration) }
        return contexts.withLock { cache in
            if let existing = cache[configuration] { return existing }
            cache[configuration] = made
            return made
        }
    }

    /// Empties the cache (tests: a cold cache must give the same run as a warm one).
    static func removeAll() { contexts.withLock { $0.removeAll() } }
}
