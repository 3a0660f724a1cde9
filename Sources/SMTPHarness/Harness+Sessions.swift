import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

extension Harness {
    /// In-band markers of the session targets' streams: the peer's TLS hello (a
    /// `PassThroughTLS` handshake), the peer's close_notify, a fatal alert from the peer, and a
    /// run `0xFC k b` of (k + 1) × 64 octets b (so that an input reaches the limits of RFC 5321
    /// §4.5.3.1 and RFC 4954 §4 within libFuzzer's input length).
    enum Marker {
        static let hello: UInt8 = 0xFF, closeNotify: UInt8 = 0xFE, alert: UInt8 = 0xFD, run: UInt8 = 0xFC
        /// Runs expand a stream to at most this: four times RFC 5321 §4.5.3.1.7's 64 KiB message
        /// minimum, past every limit a target can choose, and a bound on what one input costs.
        static let maximumStream = 256 * 1024
    }

    /// One step of a session target's stream: octets from the peer, or a marker's event.
    enum StreamItem: Equatable {
        case bytes([UInt8])
        case hello, closeNotify, alert
    }

    /// The stream as items; runs expanded.
    static func streamItems(_ input: ArraySlice<UInt8>) -> [StreamItem] {
        var items: [StreamItem] = []
        var pending: [UInt8] = []
        func flush() { if !pending.isEmpty { items.append(.bytes(pending)); pending = [] } }
        var i = input.startIndex
        var expanded = 0
        while i < input.endIndex {
            let b = input[i]
            i += 1
            switch b {
            case Marker.hello: flush(); items.append(.hello)
            case Marker.closeNotify: flush(); items.append(.closeNotify)
            case Marker.alert: flush(); items.append(.alert)
            case Marker.run where i + 1 < input.endIndex:
                let room = Marker.maximumStream - expanded
                pending += [UInt8](repeating: input[i + 1], count: min(room, (Int(input[i]) + 1) * 64))
                expanded += min(room, (Int(input[i]) + 1) * 64)
                i += 2
            default: pending.append(b)
            }
        }
        flush()
        return items
    }

    /// The octets of a stream's byte items (runs expanded).
    static func octets(_ items: [StreamItem]) -> Int {
        items.reduce(0) { if case .bytes(let b) = $1 { $0 + b.count } else { $0 } }
    }

    /// Plays the peer of `side`'s host: its TLS hello (a `PassThroughTLS` one), its close_notify
    /// or fatal alert, and its bytes in segments of `step` (`afterEach` runs after each).
    /// Bytes while the hello is awaited are dropped (StartTLSBoundary puts plaintext there).
    static func feed(_ items: [StreamItem], to side: Side, of connection: DirectConnection, step: Int, afterEach: () -> Void = {}) {
        for item in items {
            guard let host = connection.host(side) else { return }
            switch item {
            case .hello:
                if case .handshaking = host.tls { connection.deliver(side == .server ? PassThroughTLS.clientHello : PassThroughTLS.serverHello, to: side) }
            case .closeNotify: connection.endTLS(to: side)
            case .alert: connection.endTLS(to: side, alert: .badRecordMAC)
            case .bytes(let b):
                var start = 0
                while start < b.count {
                    defer { start += step }
                    if case .handshaking = host.tls { continue }
                    connection.deliver(Array(b[start..<min(b.count, start + step)]), to: side)
                    afterEach()
                }
            }
        }
    }

    /// Limits an input chooses (two bits): the defaults, RFC 5321 §4.5.3.1's minimums, one past
    /// each minimum, or roomier ones.
    static func limits(_ choice: UInt8) -> SMTPLimits {
        switch choice & 3 {
        case 0: SMTPLimits()
        case 1: SMTPLimits(recipients: SMTPLimits.rfcRecipients, messageSize: SMTPLimits.rfcMessageSize)
        case 2: SMTPLimits(commandLine: 513, textLine: 1001, authLine: 12_289, recipients: 101, messageSize: SMTPLimits.rfcMessageSize + 1)
        default: SMTPLimits(commandLine: 1000, textLine: 2000, authLine: 16_384, recipients: 200, messageSize: 128 * 1024)
        }
    }

    /// What every session target demands of the side it drives, on the writes the direct
    /// connection recorded: no write that breaks the TLS boundary (the TLS-boundary oracle's
    /// rule), nothing in the clear after the TLS session ended and nothing read there (the
    /// tls-teardown oracle's), whatever the peer did.
    static func checkSessionOracles(_ connection: DirectConnection, _ side: Side) {
        for write in connection.writes where write.side == side {
            if let why = write.breaksTLSBoundary { check(false, "tls-boundary: \(why) (\(String(decoding: write.bytes.prefix(40), as: UTF8.self).debugDescription))") }
            check(write.epoch < 2, "tls-teardown: the \(side.rawValue) wrote \(String(decoding: write.bytes.prefix(40), as: UTF8.self).debugDescription) in the clear after its TLS session ended")
        }
        if let host = connection.host(side) {
            check(host.deliveredAfterTLSEnd == 0, "tls-teardown: the \(side.rawValue) read \(host.deliveredAfterTLSEnd) octets in the clear after its TLS session ended")
        }
    }

    /// Bytes from a hostile client into the server (behind the endpoint host), cut where the
    /// first byte says (its low five bits; bits 5–6 choose the limits, bit 7 a server that
    /// offers AUTH PLAIN before TLS). Markers in the stream (`Marker`): the client's TLS hello,
    /// its close_notify or a fatal alert, runs. Every reply parses and validates; nothing buffers
    /// past the limits; the server never writes inside TLS before it heard something there, nor
    /// in the clear after the session ended; no password mechanism is offered before TLS unless
    /// that flaw was chosen; the same stream fed whole gives the same replies. Bytes while the
    /// hello is awaited are dropped (StartTLSBoundary is the target that puts plaintext there).
    public static func serverSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ServerConfiguration()
        config.credentials = ["alice": "secret"]
        config.limits = limits(first >> 5)
        if first & 0x80 != 0 { config.flaws = [.offersAuthPlainBeforeTLS] }
        let items = streamItems(bytes.dropFirst())
        func run(step: Int) -> DirectConnection {
            let server = BuiltInServerEndpoint(configuration: config, connectionID: "F1")
            let connection = DirectConnection(server: server)
            connection.server?.start()
            feed(items, to: .server, of: connection, step: step) {
                check(server.machine.bufferedByteCount <= config.limits.authLine + 4096, "server buffers \(server.machine.bufferedByteCount) octets")
            }
            return connection
        }
        // Long streams (runs reach 64 KiB) in proportionally longer segments: the limits are
        // met all the same, and 2,000 deliveries a run would cost the target its speed.
        let total = octets(items)
        let connection = run(step: (Int(first & 0x1F) + 1) * (total > 4096 ? 64 : 1))
        let replies = connection.writes.flatMap(\.bytes)
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
        checkSessionOracles(connection, .server)
        if config.flaws.isEmpty {
            for write in connection.writes where write.epoch == 0 && write.bytes.starts(with: Array("250-".utf8)) {
                var p = ReplyParser()
                p.append(write.bytes)
                guard let reply = try? p.next(), let caps = try? EHLOCapabilities(reply: reply) else { continue }
                check(!caps.authMechanisms.contains { ["PLAIN", "LOGIN"].contains($0) }, "plaintext-exposure: AUTH \(caps.authMechanisms) offered before TLS")
            }
        }
        check(run(step: Int.max).writes.flatMap(\.bytes) == replies, "segmentation changed the server's replies")
    }

    /// Bytes as a server's stream into the client (behind the endpoint host), with markers
    /// (`Marker`): the server's TLS hello (a `PassThroughTLS` handshake whose certificate
    /// verified unless the settings byte says not), its close_notify or a fatal alert, runs.
    /// Settings: policy (bits 0–1), credentials (2), no pipelining (3), CHUNKING (4), an
    /// unverified certificate (5), BDAT chunk size 1 or 7 octets (6–7). Every message ends with an
    /// outcome; nothing of the envelope or AUTH goes out in plaintext under a policy that
    /// requires TLS; the client sends one command inside TLS before it hears anything there and
    /// nothing in the clear after the session ended; fed whole or octet by octet (in 61-octet
    /// pieces past 1 KiB), it writes the same.
    public static func clientSession(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        var config = ClientConfiguration()
        config.policy = [.plaintext, .opportunistic, .required, .pinned][Int(first & 3)]
        if first & 4 != 0 { config.credentials = Credentials(username: "alice", password: "secret") }
        config.usePipelining = first & 8 == 0
        config.useChunking = first & 16 != 0
        config.bdatChunkSize = [nil, 1, 7, nil][Int(first >> 6)]
        let messages = [OutgoingMessage(id: "m1", from: .null, to: [.postmaster], body: Array("hi\r\n.x\r\n".utf8)),
                        OutgoingMessage(id: "m2", from: .null, to: [.postmaster, .postmaster], body: [])]
        let verified = first & 32 == 0
        let items = streamItems(bytes.dropFirst())
        func run(step: Int) -> (DirectConnection, SMTPClientConnection) {
            let client = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: config, messages: messages))
            let connection = DirectConnection(client: client)
            connection.handshakeReport = { _ in
                TLSReport(established: true, peerVerified: verified, version: PassThroughTLS.details.version,
                          failure: verified ? nil : .certificateNotTrusted, rfc8460ResultType: verified ? nil : .certificateNotTrusted)
            }
            connection.client?.start()
            feed(items, to: .client, of: connection, step: step)
            connection.end(to: .client)
            return (connection, client.machine)
        }
        let (connection, machine) = run(step: Int.max)
        check(machine.outcomes.count == messages.count, "a message without an outcome")
        if config.policy.demandsVerifiedTLS {
            let exposed = connection.writes.contains { write in
                let text = String(decoding: write.bytes, as: UTF8.self)
                return write.epoch == 0 && (text.hasPrefix("MAIL") || text.hasPrefix("RCPT") || text.hasPrefix("AUTH"))
            }
            check(!exposed, "plaintext-exposure: envelope or AUTH in plaintext under a policy that requires TLS")
        }
        // Credentials never in plaintext, under any policy (RFC 4954 §4 note; docs/catalog.md H6).
        check(!connection.writes.contains { $0.epoch == 0 && $0.bytes.starts(with: Array("AUTH".utf8)) }, "plaintext-exposure: AUTH in plaintext")
        checkSessionOracles(connection, .client)
        // Octet by octet; in segments of 61 once runs make the stream long (framing at every
        // cut of a 64 KiB stream would cost the target most of its speed for no new cut).
        let total = octets(items)
        let (split, _) = run(step: total <= 1024 ? 1 : 61)
        check(split.writes.flatMap(\.bytes) == connection.writes.flatMap(\.bytes), "the client wrote otherwise when the same stream came in pieces")
    }

    /// Structure-aware whole simulations: the bytes choose the seed, faults and attacker actions,
    /// TLS session events and, from two octets after those, a cell of the reply table (a server
    /// rule answering a command with a reply of some class, `ReplyTable`); smtpsim's compliant
    /// machines must never produce a finding (all oracles are checked), and with a rule the client
    /// must never be the one at fault.
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
        let phases = ProtocolPhase.drawn
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
        let command = InjectionVocabulary.commands[Int(next()) % InjectionVocabulary.commands.count]
        let reply = InjectionVocabulary.replies[Int(next()) % InjectionVocabulary.replies.count]
        let attacks: [AttackAction] = [.stripStartTLS(.overwrite), .stripStartTLS(.delete), .replaceStartTLSReply("454 4.7.0 no\r\n"),
                                       .injectToServer(bytes: command, sameSegment: true), .injectToClient(bytes: reply),
                                       .tamperCapabilities(add: ["CHUNKING"], remove: ["PIPELINING"])]
        if next() & 1 == 1 { config.attacker = [attacks[Int(next()) % attacks.count]] }
        // TLS session events (docs/catalog.md I), two octets each, from what is left of the input.
        let left = Array(IteratorSequence(input))
        config.faults += tlsSessionEvents(Array(left.prefix(8)), plaintext: command)
        // Then a server rule: the reply table's cell the next two octets name.
        let cell = left.dropFirst(8).prefix(2)
        if cell.count == 2, var rule = ReplyTable.full.rule(seed: UInt64(cell.first!) << 8 | UInt64(cell.last!) + 1) {
            // Every condition a rule can carry (issue 27), from the next two octets: tls,
            // in-transaction, connections, nth, probability and a pattern.
            let conditions = Array(left.dropFirst(10).prefix(2))
            if conditions.count == 2 {
                let a = conditions[0], b = conditions[1]
                if a & 0x03 != 0 { rule.condition.tls = a & 0x03 == 1 }
                if a & 0x0C != 0 { rule.inTransaction = a & 0x0C == 0x04 }
                if a & 0x10 != 0 { rule.connections = [a & 0x20 == 0 ? "C1" : "C2"] }
                if a & 0xC0 != 0 { rule.condition.nth = Int(a >> 6) }
                if b & 0x03 != 0 { rule.condition.probability = Ratio(UInt64(b & 0x03), 4) }
                if b & 0x04 != 0, rule.on != .greeting, rule.on != .endOfData { rule.pattern = TextPattern(b & 0x08 == 0 ? "*example*" : "*:<*") }
            }
            config.server.configuration.rules = [rule]
            // No attacker with a rule: a rule can keep the session in plaintext (a 451 to
            // STARTTLS), where an on-path attacker can make any client misjudge any outcome (its
            // injected command's reply is read as the next command's): that is what a plaintext
            // session is, not the client's fault.
            config.attacker = []
        }
        // A relay between the client and the server (docs/design.md "Relays"), from the octet
        // after: its line-ending policy and whether its outbound side uses CHUNKING.
        if let r = left.dropFirst(12).first, r & 0x80 != 0 {
            var relay = RelaySpec()
            relay.lineEndings = [.reject, .normalize, .passThrough][Int(r % 3)]
            relay.client.configuration.useChunking = r & 0x08 != 0
            relay.client.configuration.policy = client.policy
            relay.client.configuration.retry = client.retry
            config.relay = relay
        }
        config.faultWindow = 600_000_000_000
        guard let world = try? World(configuration: config, trace: .count) else { return }
        let result = world.run()
        let rules = config.server.configuration.rules
        // A rule makes the server answer as no compliant server would; the client must still
        // never be the one at fault, and the run must still end.
        let judged = rules.isEmpty ? result.findings : result.findings.filter { $0.side == .client || $0.oracle == .liveness }
        check(judged.isEmpty, "finding against the compliant \(rules.isEmpty ? "pair" : "client"): \(judged) — seed \(config.seed), faults \(config.faults), attacker \(config.attacker), rules \(rules)")
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
        check(result.findings.isEmpty, "finding against the compliant pair: \(result.findings) — attacker \(config.attacker), faults \(config.faults)")
        check(result.outcomes.count == 1, "no outcome")
    }

    /// The simulation StartTLSBoundary judges, decoded from its input (nil for an empty one); its
    /// trace keeps its events when asked (fuzzing needs the findings only).
    public static func startTLSBoundaryRun(_ bytes: [UInt8], trace detail: TraceDetail = .count) -> (SimulationConfiguration, RunResult)? {
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
        guard let world = try? World(configuration: config, trace: detail) else { return nil }
        return (config, world.run())
    }

    /// Up to four TLS session events, two octets each: the event and its side, then the phase.
    static func tlsSessionEvents(_ bytes: [UInt8], plaintext: String) -> [FaultRule] {
        let phases = ProtocolPhase.drawn
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
