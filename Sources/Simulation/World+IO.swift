import EndpointHosting
import SMTPCore
import SMTPTLS

/// The world drives every connection's two `EndpointHost`s (each connection is its hosts' driver
/// and hands over to these): what they write goes through fault triggers, the trace and the
/// oracles onto links (through the attacker before TLS); what links deliver goes back into them.
extension World {

    /// Application bytes written by a side: triggers may replace or cut them; the trace and the
    /// oracles see what the side wrote.
    func host(_ c: Connection, _ host: EndpointHost, writes original: [UInt8]) -> [UInt8]? {
        let side = host.side
        var bytes = original
        let cut = checkWriteTriggers(c, side, &bytes)
        if c.finished { return nil }
        record(c.id, .plaintext(side.writes, epoch: host.epoch, bytes: original))
        if side == .server { c.replyStreams.wrote(original, epoch: host.epoch) }
        observe(c, side, original, c.tracker.advance(past: original, by: side))
        return cut.map { Array(bytes.prefix($0)) } ?? bytes
    }

    func hostDidWrite(_ c: Connection, _ host: EndpointHost) {
        if !c.pendingEffects.isEmpty { firePendingCut(c, after: host.side.writes) }
    }

    func host(_ c: Connection, _ host: EndpointHost, transmit bytes: [UInt8], epoch: Int, handshake: Bool) {
        let side = host.side
        if epoch == 1, !handshake, var attacker = c.attacker, attacker.watchesTLSRecords {
            // The attacker's cleartext behind a TLS record (docs/catalog.md I3).
            let after = attacker.cleartext(after: bytes, toward: side == .client ? .server : .client)
            c.attacker = attacker
            if let (extra, effect) = after {
                transmit(c, side.writes, bytes, epoch: 1)
                record(c.id, .attack(name: effect.name, detail: effect.detail))
                transmit(c, side.writes, extra, epoch: 2, fromAttacker: true)
                return
            }
        }
        guard epoch == 0, var attacker = c.attacker else {
            let reached = handshake && side == .server ? c.tracker.handshake(octets: bytes.count, armed: faultsActive) : []
            var bytes = bytes
            let damage = epoch == 1 && !handshake && !c.recordDamage.isEmpty ? damageRecord(c, side, &bytes) : nil
            transmit(c, side.writes, bytes, epoch: epoch)
            if damage == .truncate {
                let link = c.link(side.writes)
                scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, side.writes, generation: c.generation))
                link.blackhole = true  // nothing more of this side's stream arrives
            }
            for firing in reached { strike(c, ruleIndex: firing.rule) }
            return
        }
        switch side {
        case .client:
            let r = attacker.clientWrite(bytes)
            c.attacker = attacker
            for e in r.effects { record(c.id, .attack(name: e.name, detail: e.detail)) }
            transmit(c, .clientToServer, r.toServer, epoch: 0)
            if !r.toClient.isEmpty { transmit(c, .serverToClient, r.toClient, epoch: 0) }
        case .server:
            let r = attacker.serverWrite(bytes)
            c.attacker = attacker
            for e in r.effects { record(c.id, .attack(name: e.name, detail: e.detail)) }
            transmit(c, .serverToClient, r.toClient, epoch: 0)
            if !r.toServer.isEmpty { transmit(c, .clientToServer, r.toServer, epoch: 0) }
        }
    }

    func tlsSetup(_ c: Connection, for host: EndpointHost) -> EndpointHost.TLSSetup? {
        let clientCount = configuration.clients.count
        let forwarding = c.hop > 0
        let clientContext = clientContexts.isEmpty ? nil : clientContexts[forwarding ? clientContexts.count - 1 : min(c.client, max(0, clientCount - 1))]
        let context = host.side == .server ? hops[c.hop].serverContext : clientContext
        guard let context else { return nil }
        let serverName = forwarding ? configuration.relay?.client.configuration.serverName
            : configuration.clients.indices.contains(c.client) ? configuration.clients[c.client].configuration.serverName : nil
        return .openSSL(context: context, serverName: serverName, verificationTime: configuration.epoch + now / 1_000_000_000)
    }

    func host(_ c: Connection, _ host: EndpointHost, handshakeCompleted details: TLSSessionDetails) -> TLSReport? {
        guard host.side == .client, let forced = forcedHandshakeFailure(c) else { return nil }
        record(c.id, .fault(name: "fail-handshake", detail: forced.rawValue))
        record(c.id, .tls(side: "client", ok: false, detail: "forced: \(forced.rawValue)"))
        return TLSReport(forced: forced)
    }

    func host(_ c: Connection, schedule id: TimerID, generation: UInt64, after: Int64, side: Side) {
        scheduler.schedule(at: later(after), .timer(connection: c.id, side, id, generation: generation))
    }

    func host(_ c: Connection, _ host: EndpointHost, event: EndpointHost.Event) {
        let side = host.side.rawValue
        switch event {
        case .note(let note):
            record(c.id, .note(side: side, text: note.text))
        case .startingTLS:
            record(c.id, .note(side: side, text: "starting TLS"))
            if host.tlsFromFirstOctet, var attacker = c.attacker {
                // Implicit TLS: the attacker has no plaintext phase (RFC 8314 §3).
                let effects = attacker.tlsFromFirstOctet()
                c.attacker = attacker
                for e in effects {
                    record(c.id, .attack(name: e.name, detail: e.detail))
                    if !attacksNotApplicable.contains(e.name) { attacksNotApplicable.append(e.name) }
                }
            }
            guard host.side == .client else { return }
            // Unplaced faults waiting for the upgrade.
            checkTLSStartTriggers(c)
            if c.finished { return }
            if let contexts = hops[c.hop].attackerContexts, c.interceptor == nil, c.serverHost.epoch == 1 || c.attacker?.serverToClientOpaque == true {
                startInterception(c, contexts)
            }
        case .tlsSetupFailed(let why):
            record(c.id, .tls(side: side, ok: false, detail: why))
        case .tlsEstablished(let details):
            if let engine = host.tlsEngine as? TLSConnection { keyLogLines += engine.keyLogLines }
            // Record sizes that hold for the whole session.
            for rule in c.faults where rule.at == nil && rule.applies(to: c.ordinal) {
                if case .recordSize(let from, let octets) = rule.effect.step, from.map({ $0 == host.side }) ?? true {
                    host.recordSize = max(1, octets)
                    record(c.id, .fault(name: rule.effect.kind.rawValue, detail: "the \(side)'s records hold at most \(octets) octets"))
                }
            }
            let verified = details.peerVerified
            record(c.id, .tls(side: side, ok: true, detail: "\(details.version) \(details.cipherSuite)\(host.side == .client ? (verified ? ", peer verified" : ", peer NOT verified: \(details.verifyResultText)") : "")"))
        case .tlsFailed(let failure), .recordFailed(let failure):
            record(c.id, .tls(side: side, ok: false, detail: failure.description))
        case .resumedPlaintext(let end):
            let state = c.tlsEndingFault ?? c.tracker.state
            c.stateAtTLSEnd[host.side] = state
            record(c.id, .note(side: side, text: "reads the stream in the clear after its TLS session ended (\(end)), \(state)"))
        case .writeAfterTLSEnd(let end, let octets):
            record(c.id, .note(side: side, text: "a write of \(octets) octets after the TLS session ended (\(end)): not sent"))
        case .closing(let detail):
            record(c.id, .closed(side: side, detail: detail))
        case .closed:
            let link = c.link(host.side.writes)
            scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, host.side.writes, generation: c.generation))
            if c.clientHost.closed && c.serverHost.closed { connectionEnded(c) }
        }
    }

    /// Puts bytes on a link, applying the link's faults.
    func transmit(_ c: Connection, _ direction: Direction, _ bytes: [UInt8], epoch: Int, coalescing: Bool = true, fromAttacker: Bool = false) {
        guard !bytes.isEmpty, !c.finished else { return }
        let link = c.link(direction)
        guard link.open, !link.blackhole else { return }
        let shape = now < configuration.faultWindow ? LinkShape(c.faults, direction: direction, connection: c.ordinal) : LinkShape()
        if coalescing, shape.coalesceWindow > 0 {
            link.coalesced += bytes
            link.coalescedEpoch = epoch
            if !link.flushScheduled {
                link.flushScheduled = true
                scheduler.schedule(at: later(shape.coalesceWindow), .flush(connection: c.id, direction))
            }
            return
        }
        var offset = 0
        while offset < bytes.count {
            // A write that fits one segment goes as it is (no copy: the common case).
            var segment = offset == 0 && bytes.count <= shape.maxSegment ? bytes : Array(bytes[offset..<min(bytes.count, offset + shape.maxSegment)])
            offset += segment.count
            if let r = shape.corruption, epoch == 0, rng.chance(r) {
                let at = Int(rng.int(in: 0...Int64(segment.count - 1)))
                let old = segment[at]
                segment[at] = old ^ UInt8(truncatingIfNeeded: rng.int(in: 1...255))
                record(c.id, .fault(name: "corrupt", detail: "\(direction.rawValue) byte \(at) of a segment: \(old) -> \(segment[at])"))
            }
            record(c.id, .sent(direction, epoch: epoch, bytes: segment))
            if let r = shape.resetChance, rng.chance(r) {
                record(c.id, .fault(name: "reset", detail: "random reset on \(direction.rawValue)"))
                reset(c)
                return
            }
            let delay = shape.latency.upperBound > 0 ? rng.int(in: shape.latency) : shape.latency.lowerBound
            let due = max(later(delay), link.nextFree, link.stalledUntil)
            link.nextFree = due
            if epoch == 1, !fromAttacker, c.interceptor != nil {
                scheduler.schedule(at: due, .intercept(connection: c.id, direction, segment, generation: c.generation))
            } else {
                scheduler.schedule(at: due, .deliver(connection: c.id, direction, segment, epoch: epoch, generation: c.generation))
            }
        }
    }

    /// A side learns its peer is gone.
    func peerClosed(_ c: Connection, _ side: Side, detail: String) {
        let host = c.host(side)
        guard !host.closed else {
            if c.clientHost.closed && c.serverHost.closed { connectionEnded(c) }
            return
        }
        record(c.id, .closed(side: side.rawValue == "client" ? "server" : "client", detail: detail))
        host.peerClosed()
    }

    /// The connection breaks: nothing more is delivered; both sides learn it now.
    func reset(_ c: Connection) {
        guard !c.finished else { return }
        c.generation += 1
        c.c2s.open = false
        c.s2c.open = false
        for side in Side.allCases where !c.host(side).closed {
            record(c.id, .closed(side: side.rawValue, detail: "connection reset"))
            for text in c.host(side).reset() { record(c.id, .note(side: side.rawValue, text: text)) }
        }
        connectionEnded(c)
    }
}

// MARK: - TLS interception (docs/catalog.md C6)

extension World {
    func startInterception(_ c: Connection, _ contexts: (facingClient: TLSContext, facingServer: TLSContext)) {
        do {
            let interceptor = try TLSInterceptor(
                facingClient: contexts.facingClient, facingServer: contexts.facingServer,
                serverName: hops[c.hop].serverName, verificationTime: configuration.epoch + now / 1_000_000_000)
            c.interceptor = interceptor
            carryOut(c, interceptor.start())
        } catch {
            record(c.id, .attack(name: "intercept-tls", detail: "could not start: \(error)"))
        }
    }

    /// Records travelling in `direction` reach the attacker's session facing their sender.
    func intercepted(_ c: Connection, _ direction: Direction, _ bytes: [UInt8]) {
        guard let interceptor = c.interceptor else { return }
        carryOut(c, interceptor.receive(bytes, travelling: direction))
    }

    private func carryOut(_ c: Connection, _ outputs: [TLSInterceptor.Output]) {
        for output in outputs {
            switch output {
            case .send(let direction, let bytes):
                transmit(c, direction, bytes, epoch: 1, fromAttacker: true)
            case .end(let direction):
                scheduler.schedule(at: max(now, c.link(direction).nextFree), .fin(connection: c.id, direction, generation: c.generation))
            case .note(let text):
                record(c.id, .attack(name: "intercept-tls", detail: text))
            case .read(let plain, let fromClient):
                if fromClient {
                    record(c.id, .attack(name: "intercept-tls", detail: "read \(plain.count) octets of the client's plaintext: \(BytePreview.text(Array(plain.prefix(60))))"))
                }
            }
        }
    }
}
