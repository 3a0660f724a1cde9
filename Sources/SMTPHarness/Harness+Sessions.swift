import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import Scenario
import Simulation

extension Harness {
    /// Bytes from a hostile client into the server, cut where the first byte says; the server's
    /// replies must all parse, nothing buffers past the limits, and the same bytes fed whole give
    /// the same replies. A byte 0xFF in the stream stands for "the TLS handshake completed here".
    public static func serverSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ServerConfiguration()
        config.credentials = ["alice": "secret"]
        if first & 0x80 != 0 { config.flaws = [.offersAuthPlainBeforeTLS] }
        let input = Array(bytes.dropFirst())
        func run(step: Int) -> [UInt8] {
            var server = SMTPServerConnection(configuration: config)
            var out: [UInt8] = []
            var inTLS = false
            func take(_ actions: [ServerAction]) {
                for action in actions {
                    switch action {
                    case .send(let b): out += b
                    case .startTLS: inTLS = true
                    case .close, .setTimer, .cancelTimer, .deliver, .note: break
                    }
                }
            }
            take(server.start())
            var segment: [UInt8] = []
            func flush() {
                guard !segment.isEmpty else { return }
                if !inTLS { take(server.receive(segment)) }
                segment = []
            }
            for b in input {
                if b == 0xFF {
                    flush()
                    if inTLS { inTLS = false; take(server.tlsEstablished()) }
                    continue
                }
                segment.append(b)
                if segment.count >= step { flush() }
                check(server.bufferedByteCount <= SMTPLimits.rfcAuthLine + 4096, "server buffers \(server.bufferedByteCount) octets")
            }
            flush()
            return out
        }
        let replies = run(step: Int(first & 0x7F) % 32 + 1)
        var parser = ReplyParser()
        parser.append(replies)
        while true {
            do {
                guard let r = try parser.next() else { break }
                check((try? r.validate()) != nil, "the server sent an invalid reply: \(r)")
            } catch {
                check(false, "the server's replies do not parse: \(error)")
            }
        }
        check(parser.bufferedByteCount == 0, "a partial reply line")
        check(run(step: Int.max) == replies, "segmentation changed the server's replies")
    }

    /// Bytes as a server's stream into the client (0xFF: the handshake completed); every message
    /// ends with an outcome, and nothing the client sends holds a bare line ending.
    public static func clientSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ClientConfiguration()
        config.policy = [.plaintext, .opportunistic, .required, .pinned][Int(first & 3)]
        if first & 4 != 0 { config.credentials = Credentials(username: "alice", password: "secret") }
        config.usePipelining = first & 8 == 0
        config.useChunking = first & 16 != 0
        let messages = [OutgoingMessage(id: "m1", from: .null, to: [.postmaster], body: Array("hi\r\n.x\r\n".utf8)),
                        OutgoingMessage(id: "m2", from: .null, to: [.postmaster, .postmaster], body: [])]
        var client = SMTPClientConnection(configuration: config, messages: messages)
        var handshaking = false
        var sentPlaintextEnvelope = false
        func take(_ actions: [ClientAction]) {
            for action in actions {
                switch action {
                case .send(let b):
                    if !client.isTLSActive && config.policy.demandsVerifiedTLS {
                        let text = String(decoding: b, as: UTF8.self)
                        if text.hasPrefix("MAIL") || text.hasPrefix("RCPT") || text.hasPrefix("AUTH") { sentPlaintextEnvelope = true }
                    }
                case .startTLS: handshaking = true
                case .close, .setTimer, .cancelTimer, .outcome, .note: break
                }
            }
        }
        take(client.start())
        var segment: [UInt8] = []
        for b in bytes.dropFirst() {
            if b == 0xFF {
                if !segment.isEmpty, !handshaking { take(client.receive(segment)) }
                segment = []
                if handshaking {
                    handshaking = false
                    take(client.tlsHandshakeFinished(TLSHandshakeResult(established: true, peerVerified: first & 32 == 0)))
                }
                continue
            }
            segment.append(b)
        }
        if !segment.isEmpty, !handshaking { take(client.receive(segment)) }
        if handshaking { take(client.tlsHandshakeFinished(TLSHandshakeResult(established: false, peerVerified: false))) }
        take(client.peerClosed())
        check(client.outcomes.count == messages.count, "a message without an outcome")
        check(!sentPlaintextEnvelope, "envelope or AUTH in plaintext under a policy that requires TLS")
    }

    /// Structure-aware whole simulations: the bytes choose the seed, faults and attacker actions;
    /// smtpsim's compliant machines must never produce a finding (all oracles are checked).
    public static func simulation(_ bytes: [UInt8]) {
        var input = bytes.makeIterator()
        func next() -> UInt8 { input.next() ?? 0 }
        var config = SimulationConfiguration(seed: UInt64(next()) | UInt64(next()) << 8)
        // TLS 1.2 PSK unless the seed's top bit asks for TLS 1.3 (4× the handshake cost).
        config.tls = .cheap(config.seed & 0x8000 != 0 ? .tls13 : .tls12)
        config.reuseCheapTLSContexts = true
        config.eventBudget = 20_000
        var client = ClientConfiguration()
        client.policy = [.plaintext, .opportunistic, .required][Int(next() % 3)]
        client.retry = RetryPolicy(delay: 60_000_000_000, maximumAttempts: 3)
        client.useChunking = next() & 1 == 1
        config.clients = [ClientSpec(configuration: client, messages: [
            OutgoingMessage(id: "m", from: .null, to: [.postmaster], body: Array("Subject: x\r\n\r\n.dot\r\nline\r\n".utf8))])]
        let phases = ProtocolPhase.allCases
        for _ in 0..<Int(next() % 4) {
            let phase = phases[Int(next()) % phases.count]
            switch next() % 6 {
            case 0: config.faults.append(FaultRule(.reset, at: .phase(phase), connections: [1]))
            case 1: config.faults.append(FaultRule(.split(maxSegment: Int(next() % 64) + 1)))
            case 2: config.faults.append(FaultRule(.latency(min: 0, max: Int64(next()) * 1_000_000)))
            case 3: config.faults.append(FaultRule(.stall(duration: Int64(next()) * 10_000_000_000), at: .phase(phase), connections: [1]))
            case 4: config.faults.append(FaultRule(.async421, at: .phase(phase), connections: [1]))
            default: config.faults.append(FaultRule(.halfClose(.serverToClient), at: .phase(phase), connections: [1]))
            }
        }
        let attacks: [AttackAction] = [.stripStartTLS(.overwrite), .stripStartTLS(.delete), .replaceStartTLSReply("454 4.7.0 no\r\n"),
                                       .injectToServer(bytes: "RSET\r\n", sameSegment: true), .injectToClient(bytes: "250 ok\r\n"),
                                       .tamperCapabilities(add: ["CHUNKING"], remove: ["PIPELINING"])]
        if next() & 1 == 1 { config.attacker = [attacks[Int(next()) % attacks.count]] }
        config.faultWindow = 600_000_000_000
        guard let world = try? World(configuration: config) else { return }
        let result = world.run()
        check(result.findings.isEmpty, "finding against the compliant pair: \(result.findings) — seed \(config.seed), faults \(config.faults), attacker \(config.attacker)")
        check(result.outcomes.count == 1, "no outcome")
    }

    /// The scenario loader never crashes, whatever the bytes.
    public static func scenarioLoader(_ bytes: [UInt8]) {
        _ = try? ScenarioLoader.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
    }
}

extension Harness {
    /// Both machines through a real TLS handshake (the cheap PSK profile) while the fuzz bytes are
    /// injected around the upgrade: toward the server right after STARTTLS (same segment), and
    /// toward the client after the 220. The TLS-boundary and state-reset oracles must hold: nothing
    /// injected in plaintext may be acted on inside TLS.
    ///
    /// Input: one byte of settings, then up to three parts separated by 0xFF: bytes injected
    /// toward the server, toward the client, and the message body that then crosses the
    /// established TLS session (so the mutator can reach the data path behind the boundary).
    public static func startTLSBoundary(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let parts = bytes.dropFirst().split(separator: 0xFF, maxSplits: 2, omittingEmptySubsequences: false)
        let toServer = parts.count > 0 ? String(decoding: parts[0], as: UTF8.self) : ""
        let toClient = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
        let body = parts.count > 2 ? Array(parts[2]) : Array("hi\r\n".utf8)
        var config = SimulationConfiguration(seed: UInt64(first))
        // TLS 1.2 PSK by default (4× cheaper in OpenSSL 3.0: no key exchange, fewer KDF
        // fetches); bit 6 of the first byte picks TLS 1.3, whose flights differ at the boundary.
        config.tls = .cheap(first & 0x40 != 0 ? .tls13 : .tls12)
        config.reuseCheapTLSContexts = true
        config.eventBudget = 5_000
        var client = ClientConfiguration()
        client.policy = .required
        client.retry = RetryPolicy(delay: 60_000_000_000, maximumAttempts: 1)
        if first & 2 != 0 { client.credentials = Credentials(username: "alice", password: "secret") }
        config.server.configuration.credentials = ["alice": "secret"]
        client.useChunking = first & 4 != 0
        config.clients = [ClientSpec(configuration: client, messages: [
            OutgoingMessage(id: "m", from: .null, to: [.postmaster], body: body)])]
        if !toServer.isEmpty { config.attacker.append(.injectToServer(bytes: toServer, sameSegment: true)) }
        if !toClient.isEmpty { config.attacker.append(.injectToClient(bytes: toClient)) }
        guard let world = try? World(configuration: config) else { return }
        let result = world.run()
        let violations = result.findings.filter { $0.oracle == .tlsBoundary || $0.oracle == .stateReset || $0.oracle == .plaintextExposure }
        check(violations.isEmpty, "boundary broken: \(violations) — injected \(toServer.debugDescription) / \(toClient.debugDescription)")
        check(result.outcomes.count == 1, "no outcome")
    }
}
