import Foundation
import NIOCore
import SMTPTLS
import EndpointHosting

/// `smtpsim proxy`: the simulator's on-path attacker between a real client and a real server.
/// The attacker's rewriting is `AttackerState` (sans-IO, shared with the simulator); this type
/// only moves bytes and, for `intercept-tls`, terminates both TLS sessions.
public struct Proxy: Sendable {
    public var listen: HostPort
    public var upstream: HostPort
    public var attacks: [AttackAction]
    /// The certificate shown to the client when intercepting TLS (the factory's untrusted-CA
    /// leaf unless the user brings one).
    public var interceptIdentity: TLSIdentity?
    public var limits = SessionLimits()
    public var connectTimeout: Double = 10
    public var maximumConnections: Int?
    /// TLS session faults the attacker performs with intercept-tls (docs/catalog.md I): `from`
    /// names the side it impersonates (`from: client` acts on its session toward the server).
    public var faults: [FaultRule] = [] {
        didSet { faultsRefused = Self.refused(faults) }
    }
    private var faultsRefused: String?

    /// Why the proxy cannot carry out `faults`, if it cannot.
    static func refused(_ faults: [FaultRule]) -> String? {
        for rule in faults {
            switch rule.effect.step {
            case .session?, .cleartext?, .damageRecord?, .recordSize?:
                continue
            default:
                return "the proxy performs only TLS session faults (tls-*, plaintext-after-tls), not '\(rule)'"
            }
        }
        return nil
    }

    public init(listen: HostPort, upstream: HostPort, attacks: [AttackAction]) {
        self.listen = listen
        self.upstream = upstream
        self.attacks = attacks
    }

    /// What the proxy saw and did, one line each, tagged with the connection.
    public enum Event: Sendable, Equatable {
        case client([UInt8], tls: Bool)
        case server([UInt8], tls: Bool)
        case attack(String, String)
        case note(String)
        /// A side broke a rule of the oracles the proxy can judge from the middle (`SessionJudge`).
        case finding(Finding)
    }

    public func run(ready: @Sendable (Int) -> Void, log: @escaping @Sendable (String, Event) -> Void) async throws(NetError) {
        if let why = faultsRefused { throw .setup(why) }
        if !faults.isEmpty, !attacks.contains(.interceptTLS) { throw .setup("TLS session faults need --attack intercept-tls (the proxy must hold both TLS sessions)") }
        var contexts: InterceptContexts?
        if attacks.contains(.interceptTLS) {
            guard let identity = interceptIdentity else { throw .setup("intercept-tls needs a certificate") }
            do {
                contexts = InterceptContexts(facingClient: try TLSContext(.server(identity)), facingServer: try TLSContext(TLSConfiguration(role: .client)))
            } catch {
                throw .setup("TLS setup failed: \(error)")
            }
        }
        let listener = try await Sockets.listen(listen)
        ready(Sockets.port(of: listener))
        let proxy = self
        let tls = contexts
        try await Sockets.accept(on: listener, prefix: "P", maximum: maximumConnections) { client, id, _ in
            await proxy.relay(client, id: id, contexts: tls, log: log)
        }
    }

    /// intercept-tls: the attacker's TLS toward the client (its own certificate) and toward the
    /// server.
    struct InterceptContexts: Sendable {
        var facingClient: TLSContext
        var facingServer: TLSContext
    }

    enum Input: Sendable {
        case fromClient([UInt8])
        case fromServer([UInt8])
        case closed(String)
        case deadline
    }

    private func relay(_ client: ByteChannel, id: String, contexts: InterceptContexts?, log: @escaping @Sendable (String, Event) -> Void) async {
        log(id, .note("client \(Sockets.peer(of: client)) connected; dialling \(upstream)"))
        let server: ByteChannel
        do {
            server = try await Sockets.connect(upstream, timeout: connectTimeout)
        } catch {
            log(id, .note("upstream: \(error)"))
            try? await client.executeThenClose { _, _ in }
            return
        }
        let sessionMilliseconds = Int64(limits.sessionSeconds * 1000)
        let attacks = attacks
        let faults = faults
        let limits = limits
        try? await client.executeThenClose { clientIn, clientOut in
            try await server.executeThenClose { serverIn, serverOut in
                let (events, continuation) = AsyncStream<Input>.makeStream()
                // Octets read and not yet relayed: past the limit a side's reading pauses (TCP
                // back-pressure), so a fast side cannot make the proxy buffer without bound.
                let queued = Valve(limit: limits.maximumQueuedInput)
                @Sendable func pump(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, _ wrap: @Sendable ([UInt8]) -> Input, _ side: String) async {
                    _ = await Sockets.read(inbound, into: continuation, valve: queued, wrap)
                    continuation.yield(.closed("the \(side) closed"))
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await pump(clientIn, { .fromClient($0) }, "client") }
                    group.addTask { await pump(serverIn, { .fromServer($0) }, "server") }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(sessionMilliseconds))
                        continuation.yield(.deadline)
                    }
                    var relay = Relay(attacker: AttackerState(actions: attacks), contexts: contexts, faults: faults, clientOut: clientOut, serverOut: serverOut) { log(id, $0) }
                    for await event in events {
                        if case .fromClient(let b) = event { queued.consumed(b.count) }
                        if case .fromServer(let b) = event { queued.consumed(b.count) }
                        guard await relay.handle(event) else { break }
                    }
                    queued.open()
                    group.cancelAll()
                    continuation.finish()
                }
            }
        }
        log(id, .note("connection closed"))
    }
}

/// The proxy's TLS session faults on one connection: which strike where, read off the plaintext
/// the attacker relays (the simulator's tracker); a fault that ends a session cuts the relayed
/// plaintext at its trigger.
final class ProxyFaults {
    let rules: [FaultRule]
    private var tracker: TriggerTracker
    private var due: [Int] = []

    init(_ rules: [FaultRule]) {
        self.rules = rules
        tracker = TriggerTracker(rules: rules, connection: nil)
    }

    /// How much of what `from` wrote is relayed before the faults it triggers strike.
    func relayedPrefix(from side: Side, _ plain: [UInt8]) -> Int {
        var keep = plain.count
        for firing in tracker.firings(plain, by: side, epoch: 1, armed: true) {
            due.append(firing.rule)
            // A session toward where this plaintext goes ends at the cut: the rest is not relayed.
            if rules[firing.rule].effect.step?.timing(triggeredBy: side) == .afterPrecedingOctets(cuts: true) { keep = min(keep, firing.afterOctets) }
        }
        tracker.advance(past: plain, by: side)
        return keep
    }

    /// The faults that struck since the last call, in order.
    func takeDue() -> [FaultRule] {
        defer { due = [] }
        return due.map { rules[$0] }
    }
}

/// One proxied connection's state, driven by one task.
struct Relay {
    var attacker: AttackerState
    let contexts: Proxy.InterceptContexts?
    let clientOut: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let serverOut: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let log: (Proxy.Event) -> Void
    /// intercept-tls: the attacker's two TLS sessions, once the 220 to STARTTLS has passed.
    var interceptor: TLSInterceptor?
    /// The TLS session faults and where the session stands, read off the plaintext both
    /// sides write (the simulator's tracker).
    let faults: ProxyFaults
    /// From the middle both ends are seen: a judge of each (`SessionJudge`), fed what each side
    /// wrote (before the attacker) and, for the 220 to STARTTLS, what the client was handed
    /// (after it); the client's command lines as the server would read them.
    private var judges = [SessionJudge(judged: .client), SessionJudge(judged: .server)]
    private var commands = TriggerTracker(rules: [], connection: nil)
    private var findings = 0

    init(attacker: AttackerState, contexts: Proxy.InterceptContexts?, faults: [FaultRule] = [], clientOut: NIOAsyncChannelOutboundWriter<ByteBuffer>,
         serverOut: NIOAsyncChannelOutboundWriter<ByteBuffer>, log: @escaping (Proxy.Event) -> Void) {
        self.attacker = attacker
        self.contexts = contexts
        self.faults = ProxyFaults(faults)
        self.clientOut = clientOut
        self.serverOut = serverOut
        self.log = log
    }

    /// False when the connection is over.
    mutating func handle(_ input: Proxy.Input) async -> Bool {
        switch input {
        case .closed(let why):
            log(.note(why))
            return false
        case .deadline:
            log(.note("session time limit reached"))
            return false
        case .fromClient(let bytes):
            if let interceptor {
                await carryOut(interceptor.receive(bytes, travelling: .clientToServer))
                return true
            }
            let plaintext = !attacker.clientToServerOpaque
            let (toServer, toClient, effects) = attacker.clientWrite(bytes)
            if attacker.sawImplicitTLS, plaintext {
                // A ClientHello before anything else: implicit TLS (RFC 8314 §3); the attacks
                // on the plaintext phase said they do not apply, interception starts here.
                log(.note("implicit TLS: the client's first octets are a TLS handshake record"))
                effects.forEach { log(.attack($0.name, $0.detail)) }
                if let contexts {
                    await startInterception(contexts)
                    if let interceptor { await carryOut(interceptor.receive(bytes, travelling: .clientToServer)) }
                    return true
                }
                await write(serverOut, toServer)
                return true
            }
            if plaintext {
                log(.client(toServer, tls: false))
                judge(bytes, by: .client, epoch: 0)
            }
            effects.forEach { log(.attack($0.name, $0.detail)) }
            await write(serverOut, toServer)
            await write(clientOut, toClient)
        case .fromServer(let bytes):
            if let interceptor {
                await carryOut(interceptor.receive(bytes, travelling: .serverToClient))
                return true
            }
            let plaintext = !attacker.serverToClientOpaque
            let (toClient, late, effects) = attacker.serverWrite(bytes)
            if plaintext {
                log(.server(toClient, tls: false))
                judge(bytes, by: .server, epoch: 0, handed: toClient)
            }
            effects.forEach { log(.attack($0.name, $0.detail)) }
            await write(clientOut, toClient)
            await write(serverOut, late)
            if attacker.serverToClientOpaque, interceptor == nil, let contexts {
                await startInterception(contexts)
            }
        }
        return true
    }

    private mutating func startInterception(_ contexts: Proxy.InterceptContexts) async {
        do {
            let started = try TLSInterceptor(
                facingClient: contexts.facingClient, facingServer: contexts.facingServer, serverName: nil,
                verificationTime: Int64(Date().timeIntervalSince1970))
            interceptor = started
            let faults = faults
            if !faults.rules.isEmpty { started.relayedPrefix = { faults.relayedPrefix(from: $0, $1) } }
            await carryOut(started.start())
        } catch {
            log(.attack("intercept-tls", "could not start: \(error)"))
        }
    }

    /// What the interceptor asks for, in order: records to either side, what it read; then the
    /// TLS session faults what it read triggered.
    private mutating func carryOut(_ outputs: [TLSInterceptor.Output]) async {
        for output in outputs {
            switch output {
            case .send(let direction, let bytes):
                await write(direction == .clientToServer ? serverOut : clientOut, bytes)
            case .end(let direction):
                (direction == .clientToServer ? serverOut : clientOut).finish()
            case .note(let text):
                log(.attack("intercept-tls", text))
            case .read(let plain, let fromClient):
                if fromClient {
                    log(.client(plain, tls: true))
                    log(.attack("intercept-tls", "read \(plain.count) octets of the client's plaintext"))
                } else {
                    log(.server(plain, tls: true))
                }
                judge(plain, by: fromClient ? .client : .server, epoch: 1)
            }
        }
        for rule in faults.takeDue() { await strike(rule) }
    }

    /// Carries out a TLS session fault on the session toward the side `from` does not name.
    private mutating func strike(_ rule: FaultRule) async {
        guard let interceptor, let step = rule.effect.step else { return }
        let toward: Side = (rule.effect.side ?? .client) == .client ? .server : .client
        log(.attack(rule.effect.kind.rawValue, "\(rule)"))
        switch step {
        case .session(_, let event, let then):
            var outputs = interceptor.perform(event, toward: toward, cleartext: Array((then.plaintext ?? "").utf8))
            if then.close { outputs.append(.end(toward == .server ? .clientToServer : .serverToClient)) }
            await carryOut(outputs)
        case .damageRecord(_, let damage):
            interceptor.damage[toward] = damage
        case .recordSize(let side, let octets):
            for s in Side.allCases where side.map({ $0 != s }) ?? true { interceptor.recordSize[s] = octets }
        case .cleartext(_, let bytes):
            await write(toward == .server ? serverOut : clientOut, bytes)
        case .refuse, .connectTimeout, .reset, .finish, .blackhole, .stall, .shutdown, .failHandshake, .replaceWrite:
            break  // refused before the proxy starts (`Proxy.refused`)
        }
    }

    /// A side's write, judged by both judges (`handed`: what the client was given of a server
    /// write, after the attacker; the server's own bytes otherwise). Findings are logged, up to
    /// the simulator's bound per connection.
    private mutating func judge(_ bytes: [UInt8], by side: Side, epoch: Int, handed: [UInt8]? = nil) {
        let step = commands.advance(past: bytes, by: side)
        var verdicts: [SessionJudge.Verdict] = []
        for k in judges.indices { verdicts += judges[k].observe(bytes, by: side, epoch: epoch, step: step, handed: handed) }
        for v in verdicts where findings < SessionJudge.findingsPerConnection {
            findings += 1
            log(.finding(v.finding(at: 0)))
        }
    }

    private func write(_ out: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ bytes: [UInt8]) async {
        guard !bytes.isEmpty else { return }
        try? await out.write(ByteBuffer(bytes: bytes))
    }
}
