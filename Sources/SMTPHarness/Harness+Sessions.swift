import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

extension Harness {
    /// Bytes from a hostile client into the server (behind the endpoint host), cut where the
    /// first byte says; the server's replies must all parse, nothing buffers past the limits, and
    /// the same bytes fed whole give the same replies. A byte 0xFF in the stream stands for the
    /// client's TLS hello (a `PassThroughTLS` handshake); bytes while the hello is awaited are
    /// dropped (StartTLSBoundary is the target that puts plaintext there).
    public static func serverSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ServerConfiguration()
        config.credentials = ["alice": "secret"]
        if first & 0x80 != 0 { config.flaws = [.offersAuthPlainBeforeTLS] }
        let input = Array(bytes.dropFirst())
        func run(step: Int) -> [UInt8] {
            let server = BuiltInServerEndpoint(configuration: config, connectionID: "F1")
            let connection = DirectConnection(server: server)
            connection.server?.start()
            var segment: [UInt8] = []
            func flush() {
                guard !segment.isEmpty else { return }
                if let host = connection.server, case .none = host.tls { connection.deliver(segment, to: .server) }
                segment = []
            }
            for b in input {
                if b == 0xFF {
                    flush()
                    if let host = connection.server, case .handshaking = host.tls { connection.deliver(PassThroughTLS.clientHello, to: .server) }
                    continue
                }
                segment.append(b)
                if segment.count >= step { flush() }
                check(server.machine.bufferedByteCount <= SMTPLimits.rfcAuthLine + 4096, "server buffers \(server.machine.bufferedByteCount) octets")
            }
            flush()
            return connection.writes.flatMap(\.bytes)
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

    /// Bytes as a server's stream into the client (behind the endpoint host; 0xFF: the server's
    /// TLS hello, a `PassThroughTLS` handshake whose certificate verified unless the settings
    /// byte says not); every message ends with an outcome, and nothing of the envelope or AUTH
    /// goes out in plaintext under a policy that requires TLS.
    public static func clientSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ClientConfiguration()
        config.policy = [.plaintext, .opportunistic, .required, .pinned][Int(first & 3)]
        if first & 4 != 0 { config.credentials = Credentials(username: "alice", password: "secret") }
        config.usePipelining = first & 8 == 0
        config.useChunking = first & 16 != 0
        let messages = [OutgoingMessage(id: "m1", from: .null, to: [.postmaster], body: Array("hi\r\n.x\r\n".utf8)),
                        OutgoingMessage(id: "m2", from: .null, to: [.postmaster, .postmaster], body: [])]
        let client = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: config, messages: messages))
        let connection = DirectConnection(client: client)
        let verified = first & 32 == 0
        connection.handshakeReport = { _ in
            TLSReport(established: true, peerVerified: verified, version: PassThroughTLS.details.version,
                      failure: verified ? nil : .certificateNotTrusted, rfc8460ResultType: verified ? nil : .certificateNotTrusted)
        }
        connection.client?.start()
        func handshaking() -> Bool {
            guard let host = connection.client, case .handshaking = host.tls else { return false }
            return true
        }
        for part in bytes.dropFirst().split(separator: 0xFF, omittingEmptySubsequences: false).enumerated() {
            if part.offset > 0, handshaking() { connection.deliver(PassThroughTLS.serverHello, to: .client) }
            // Bytes while the hello is awaited are dropped (StartTLSBoundary puts plaintext there).
            if !part.element.isEmpty, !handshaking() { connection.deliver(Array(part.element), to: .client) }
        }
        connection.end(to: .client)
        check(client.machine.outcomes.count == messages.count, "a message without an outcome")
        if config.policy.demandsVerifiedTLS {
            let exposed = connection.writes.contains { write in
                let text = String(decoding: write.bytes, as: UTF8.self)
                return write.epoch == 0 && (text.hasPrefix("MAIL") || text.hasPrefix("RCPT") || text.hasPrefix("AUTH"))
            }
            check(!exposed, "envelope or AUTH in plaintext under a policy that requires TLS")
        }
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
    /// Input: one byte of settings, then up to four parts separated by 0xFF: bytes injected
    /// toward the server, toward the client, the message body that then crosses the
    /// established TLS session (so the mutator can reach the data path behind the boundary), and
    /// TLS session events (docs/catalog.md I), two octets each: which event from which side, and
    /// at which phase. The tls-teardown oracle must hold as well.
    public static func startTLSBoundary(_ bytes: [UInt8]) {
        guard let (config, result) = startTLSBoundaryRun(bytes) else { return }
        let violations = result.findings.filter {
            $0.oracle == .tlsBoundary || $0.oracle == .stateReset || $0.oracle == .plaintextExposure || $0.oracle == .tlsTeardown
        }
        check(violations.isEmpty, "boundary broken: \(violations) — attacker \(config.attacker), faults \(config.faults)")
        check(result.outcomes.count == 1, "no outcome")
    }

    /// The simulation StartTLSBoundary judges, decoded from its input (nil for an empty one).
    public static func startTLSBoundaryRun(_ bytes: [UInt8]) -> (SimulationConfiguration, RunResult)? {
        guard let first = bytes.first else { return nil }
        let parts = bytes.dropFirst().split(separator: 0xFF, maxSplits: 3, omittingEmptySubsequences: false)
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
        if parts.count > 3 { config.faults += tlsSessionEvents(Array(parts[3]), plaintext: toServer) }
        guard let world = try? World(configuration: config) else { return nil }
        return (config, world.run())
    }

    /// Up to four TLS session events, two octets each: the event and its side, then the phase.
    static func tlsSessionEvents(_ bytes: [UInt8], plaintext: String) -> [FaultRule] {
        let phases = ProtocolPhase.allCases
        var rules: [FaultRule] = []
        var i = 0
        while i + 1 < bytes.count, rules.count < 4 {
            let (a, b) = (bytes[i], bytes[i + 1])
            i += 2
            let side: Side = a & 0x80 == 0 ? .client : .server
            let then = TLSAftermath(plaintext: a & 0x40 == 0 ? nil : (plaintext.isEmpty ? "RSET\r\n" : plaintext), close: a & 0x20 != 0)
            let alerts = TLSSessionAlert.allCases
            let effect: FaultEffect
            switch a & 0x0F {
            case 0, 1: effect = .tlsCloseNotify(from: side, then: then)
            case 2, 3: effect = .tlsAlert(from: side, alerts[Int(b >> 5) % alerts.count], then: then)
            case 4: effect = .tlsTruncatedRecord(from: side)
            case 5: effect = .tlsBadRecord(from: side)
            case 6: effect = .tlsRecordSize(from: side, octets: Int(b >> 5) + 1)
            case 7, 8: effect = .tlsKeyUpdate(from: side, requestUpdate: a & 1 == 0)
            case 9: effect = .tlsRenegotiate(from: side)
            default: effect = .plaintextAfterTLS(from: side, bytes: plaintext.isEmpty ? "NOOP\r\n" : plaintext)
            }
            rules.append(FaultRule(effect, at: .phase(phases[Int(b & 0x1F) % phases.count]), connections: [1]))
        }
        return rules
    }
}
