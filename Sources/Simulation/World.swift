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

    /// The links the run's connections travel: one from the clients to the server, or two with a
    /// relay (clients → relay, relay → server; docs/design.md "Relays").
    var hops: [Hop]
    let clientPrograms: [ClientProgram]
    /// The relay's outbound side, the last client program (nil without a relay).
    let forwarder: RelayForwarder?
    var forwarderIdle = true
    var rng: SimRandom
    var scheduler = Scheduler<Event>()
    var connections: [Connection] = []
    var clientDone: [Bool]
    var doneCount = 0
    var findings: [Finding] = []
    var keyLogLines: [String] = []
    /// Attacker actions that found no plaintext phase to work on (implicit TLS), in order.
    var attacksNotApplicable: [String] = []
    /// One TLS context per client program (the relay's outbound side last).
    let clientContexts: [TLSContext]
    let factory: CertificateFactory?

    /// One hop of the run: the server programs accept its connections, its faults and attacker
    /// act on its links, its TLS contexts serve its handshakes.
    struct Hop {
        let faults: [FaultRule]
        let attacker: [AttackAction]
        let serverProgram: ServerProgram
        let serverContext: TLSContext?
        /// The name the server's certificate carries and the interceptor expects.
        let serverName: String
        /// The attacker's contexts for TLS interception (docs/catalog.md C6).
        let attackerContexts: (facingClient: TLSContext, facingServer: TLSContext)?
        /// Connections opened on this hop so far (fault rules name them 1, 2, … per hop).
        var opened = 0
    }

    /// The hop the messages end on: its server's accepted messages are the run's.
    var lastHop: Hop { hops[hops.count - 1] }

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
        case effect(connection: Int, Boxed<FaultStep>, generation: Int)
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
        let server = serverProgram ?? BuiltInServerProgram(configuration: configuration.seededServerConfiguration)
        var programs = clientPrograms ?? configuration.clients.indices.map {
            BuiltInClientProgram(configuration: configuration.seededClientConfiguration($0), messages: configuration.clients[$0].messages)
        }
        let relayProgram: BuiltInServerProgram?
        if let (relayServer, relayClient) = configuration.seededRelay {
            let f = RelayForwarder(configuration: relayClient)
            forwarder = f
            programs.append(f)
            relayProgram = BuiltInServerProgram(configuration: relayServer)
        } else {
            forwarder = nil
            relayProgram = nil
        }
        self.clientPrograms = programs
        clientDone = Array(repeating: false, count: programs.count)
        // TLS contexts, made once per run after seeding.
        let firstServer = configuration.relay?.server ?? configuration.server
        let host = configuration.clients.first?.configuration.serverName ?? firstServer.configuration.hostname
        // Client specs in program order: the relay's outbound side last.
        let specs = configuration.clients + (configuration.relay.map { [$0.client] } ?? [])
        var serverContexts: [TLSContext?] = []
        var attackerContexts: [(facingClient: TLSContext, facingServer: TLSContext)?] = []
        let hopServers = [(firstServer, host, configuration.attacker)] + (configuration.relay.map {
            [(configuration.server, $0.client.configuration.serverName, $0.attacker)]
        } ?? [])
        switch configuration.tls {
        case .full:
            let f = try CertificateFactory(seed: configuration.seed, epoch: configuration.epoch, keyType: configuration.server.keyType)
            factory = f
            var identities: [TLSIdentity] = []
            for (spec, name, _) in hopServers {
                let identity = try spec.identity ?? f.serverIdentity(hostname: name, variant: spec.certificate)
                identities.append(identity)
                var server = TLSConfiguration.server(identity)
                server.minimumVersion = spec.minimumTLSVersion
                server.maximumVersion = spec.maximumTLSVersion
                server.securityLevel = spec.securityLevel ?? (spec.certificate == .weakKey ? 0 : nil)
                serverContexts.append(try TLSContext(server))
            }
            // One context per distinct client TLS configuration (SSL_CTX_new is costly in OpenSSL 3).
            var cache: [TLSConfiguration: TLSContext] = [:]  // lookups only
            let clientCount = configuration.clients.count
            clientContexts = try specs.enumerated().map { index, spec in
                var c = TLSConfiguration(role: .client)
                // The clients trust the first hop's server; the relay's outbound side the last.
                let identity = identities[index < clientCount ? 0 : identities.count - 1]
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
            for (_, name, attacker) in hopServers {
                if attacker.contains(.interceptTLS) {
                    let fake = try f.serverIdentity(hostname: name, variant: .untrustedCA)
                    attackerContexts.append((try TLSContext(.server(fake)), try TLSContext(TLSConfiguration(role: .client))))
                } else {
                    attackerContexts.append(nil)
                }
            }
        case .cheap(let mode):
            factory = nil
            let reuse = configuration.reuseCheapTLSContexts
            let psk = PreSharedKey.derived(seed: reuse ? 0 : configuration.seed, mode: mode)
            var client = TLSConfiguration.cheap(role: .client, psk: psk)
            client.keyLog = configuration.keyLog
            let serverContext = try reuse ? CheapContextCache.context(.cheap(role: .server, psk: psk)) : TLSContext(.cheap(role: .server, psk: psk))
            let context = try reuse ? CheapContextCache.context(client) : TLSContext(client)
            clientContexts = specs.map { _ in context }
            serverContexts = hopServers.map { _ in serverContext }
            attackerContexts = hopServers.map { _ in nil }
        }
        var hops = [Hop(faults: configuration.faults, attacker: configuration.attacker, serverProgram: relayProgram ?? server,
                        serverContext: serverContexts[0], serverName: firstServer.configuration.hostname, attackerContexts: attackerContexts[0])]
        if let relay = configuration.relay {
            hops.append(Hop(faults: relay.faults, attacker: relay.attacker, serverProgram: server, serverContext: serverContexts[1],
                            serverName: configuration.server.configuration.hostname, attackerContexts: attackerContexts[1]))
        }
        self.hops = hops
        relayProgram?.onDeliver = { [unowned self] message in self.relayAccepted(message) }
        for (index, spec) in configuration.clients.enumerated() where index < programs.count {
            scheduler.schedule(at: spec.connectAt, .connect(client: index))
        }
        // The relay's outbound side connects when it has something to forward.
        for index in configuration.clients.count..<(programs.count - (forwarder == nil ? 0 : 1)) {
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
            let link = c.link(direction)
            if !link.coalesced.isEmpty {
                // A stream ends after its bytes: octets a coalescing link still holds go first,
                // and the FIN follows them (it once overtook them, and they were lost).
                let pending = link.coalesced
                link.coalesced = []
                transmit(c, direction, pending, epoch: link.coalescedEpoch, coalescing: false)
                scheduler.schedule(at: max(now, link.nextFree), .fin(connection: id, direction, generation: generation))
                return
            }
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
            fire(c, step: effect.value, direction: nil)
        case .connectTimedOut(let client, let id):
            record(id, .fault(name: "connect-timeout", detail: "no connection for client \(client)"))
            scheduleNext(client, clientPrograms[client].connectionFailed(reason: "connection timed out"))
        }
    }

    // MARK: - Connections

    /// The hop client program `client` connects on.
    func hop(of client: Int) -> Int { forwarder != nil && client == clientPrograms.count - 1 ? 1 : 0 }

    private func connect(_ client: Int) {
        guard let endpoint = clientPrograms[client].nextConnection() else {
            markDone(client)
            return
        }
        let id = connections.count + 1
        let hop = hop(of: client)
        hops[hop].opened += 1
        let ordinal = hops[hop].opened
        let faults = hops[hop].faults
        record(id, .connect(client: client, attempt: id))
        if hop > 0 { record(id, .note(side: "client", text: "the relay forwards to \(hops[hop].serverName) (hop \(hop + 1), its connection \(ordinal))")) }
        for (k, rule) in faults.enumerated() where rule.applies(to: ordinal) && now < configuration.faultWindow {
            switch rule.effect.step {
            case .refuse:
                record(id, .fault(name: "refuse-connection", detail: "rule \(k)"))
                connections.append(Connection(id: id, client: client, hop: hop, ordinal: ordinal, clientEndpoint: endpoint, serverEndpoint: nil, attacker: nil, faults: faults, world: self))
                connections[id - 1].finished = true
                scheduleNext(client, clientPrograms[client].connectionFailed(reason: "connection refused"))
                return
            case .connectTimeout(let after):
                connections.append(Connection(id: id, client: client, hop: hop, ordinal: ordinal, clientEndpoint: endpoint, serverEndpoint: nil, attacker: nil, faults: faults, world: self))
                connections[id - 1].finished = true
                scheduler.schedule(at: later(after), .connectTimedOut(client: client, connection: id))
                return
            default:
                continue
            }
        }
        let server = hops[hop].serverProgram.accept(connection: id)
        let attacker = hops[hop].attacker
        let c = Connection(
            id: id, client: client, hop: hop, ordinal: ordinal, clientEndpoint: endpoint, serverEndpoint: server,
            attacker: attacker.isEmpty ? nil : AttackerState(actions: attacker), faults: faults, world: self)
        connections.append(c)
        // Time-triggered and connect-triggered faults.
        for (k, rule) in faults.enumerated() where rule.applies(to: ordinal) {
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
        if forwarder != nil, client == clientPrograms.count - 1 {
            // The relay's outbound side is done only when nobody can give it more to forward.
            forwarderIdle = true
            if doneCount < clientDone.count - 1 { return }
        }
        guard !clientDone[client] else { return }
        clientDone[client] = true
        doneCount += 1
        if forwarder != nil, forwarderIdle, doneCount == clientDone.count - 1 { markDone(clientDone.count - 1) }
    }

    /// The relay's inbound side accepted a message: its outbound side forwards it (now, if it
    /// is not connected or waiting to retry).
    func relayAccepted(_ message: AcceptedMessage) {
        guard let forwarder else { return }
        forwarder.enqueue(message)
        if forwarderIdle {
            forwarderIdle = false
            scheduler.schedule(at: now, .connect(client: clientPrograms.count - 1))
        }
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
