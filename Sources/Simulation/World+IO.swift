import EndpointHosting
import SMTPTLS

/// Carrying out endpoint actions: bytes through TLS and the attacker onto links, links to the
/// other side, TLS handshakes, timers, closes.
extension World {
    func apply(_ c: Connection, _ side: Side, _ actions: [EndpointAction]) {
        let host = c.host(side)
        for action in actions {
            if c.finished { return }
            switch action {
            case .send(let bytes):
                guard !host.closed else { continue }
                write(c, side, bytes)
            case .startTLS:
                startTLS(c, side)
            case .close:
                close(c, side, detail: "closed by the endpoint")
            case .setTimer(let name, let after):
                host.timerGeneration += 1
                host.timers[name] = host.timerGeneration
                scheduler.schedule(at: later(after), .timer(connection: c.id, side, name, generation: host.timerGeneration))
            case .cancelTimer(let name):
                host.timers[name] = nil
            case .note(let text):
                record(c.id, .note(side: side.rawValue, text: text))
            }
        }
    }

    /// Application bytes written by a side.
    func write(_ c: Connection, _ side: Side, _ original: [UInt8]) {
        let host = c.host(side)
        var bytes = original
        // Phase and pattern triggers look at what the side wrote; a fault may replace or cut it.
        let cut = checkWriteTriggers(c, side, &bytes)
        if c.finished { return }
        // The trace and the oracles see what the side wrote; a replaced reply is the fault's doing.
        record(c.id, .plaintext(side.writes, epoch: host.epoch, bytes: original))
        observe(c, side, original)
        let sendable = cut.map { Array(bytes.prefix($0)) } ?? bytes
        if let tls = host.tls {
            guard host.tlsEstablished else { return }
            do {
                try tls.writePlaintext(sendable)
            } catch {
                record(c.id, .note(side: side.rawValue, text: "TLS write failed: \(error)"))
            }
            transmit(c, side.writes, tls.drainCiphertext(), epoch: 1)
        } else if var attacker = c.attacker {
            switch side {
            case .client:
                let r = attacker.clientWrite(sendable)
                c.attacker = attacker
                for e in r.effects { record(c.id, .attack(name: e.name, detail: e.detail)) }
                transmit(c, .clientToServer, r.toServer, epoch: 0)
                if !r.toClient.isEmpty { transmit(c, .serverToClient, r.toClient, epoch: 0) }
            case .server:
                let r = attacker.serverWrite(sendable)
                c.attacker = attacker
                for e in r.effects { record(c.id, .attack(name: e.name, detail: e.detail)) }
                transmit(c, .serverToClient, r.toClient, epoch: 0)
                if !r.toServer.isEmpty { transmit(c, .clientToServer, r.toServer, epoch: 0) }
            }
        } else {
            transmit(c, side.writes, sendable, epoch: 0)
        }
        if cut != nil { firePendingCut(c, after: side.writes) }
    }

    /// Puts bytes on a link, applying the link's faults.
    func transmit(_ c: Connection, _ direction: Direction, _ bytes: [UInt8], epoch: Int, coalescing: Bool = true, fromAttacker: Bool = false) {
        guard !bytes.isEmpty, !c.finished else { return }
        let link = c.link(direction)
        guard link.open, !link.blackhole else { return }
        let active = now < configuration.faultWindow
        var maxSegment = Int.max
        var latency: (Int64, Int64) = (0, 0)
        var coalesceWindow: Int64 = 0
        var corruption: Ratio?
        var resetChance: Ratio?
        if active {
            for rule in configuration.faults where rule.applies(to: c.id) && rule.applies(to: direction) && rule.at == nil {
                switch rule.effect {
                case .latency(let lo, let hi): latency = (lo, max(lo, hi))
                case .split(let n): maxSegment = min(maxSegment, max(1, n))
                case .coalesce(let w): coalesceWindow = w
                case .corrupt(let r): corruption = r
                case .resetProbability(let r): resetChance = r
                case .stall, .reset, .halfClose, .truncate, .replaceReply, .failHandshake, .async421, .refuseConnection, .connectTimeout:
                    break
                }
            }
        }
        if coalescing, coalesceWindow > 0 {
            link.coalesced += bytes
            link.coalescedEpoch = epoch
            if !link.flushScheduled {
                link.flushScheduled = true
                scheduler.schedule(at: later(coalesceWindow), .flush(connection: c.id, direction))
            }
            return
        }
        var offset = 0
        while offset < bytes.count {
            var segment = Array(bytes[offset..<min(bytes.count, offset + maxSegment)])
            offset += segment.count
            if let r = corruption, epoch == 0, rng.chance(r) {
                let at = Int(rng.int(in: 0...Int64(segment.count - 1)))
                let old = segment[at]
                segment[at] = old ^ UInt8(truncatingIfNeeded: rng.int(in: 1...255))
                record(c.id, .fault(name: "corrupt", detail: "\(direction.rawValue) byte \(at) of a segment: \(old) -> \(segment[at])"))
            }
            record(c.id, .sent(direction, epoch: epoch, bytes: segment))
            if let r = resetChance, rng.chance(r) {
                record(c.id, .fault(name: "reset", detail: "random reset on \(direction.rawValue)"))
                reset(c)
                return
            }
            let delay = latency.1 > 0 ? rng.int(in: latency.0...latency.1) : latency.0
            let due = max(later(delay), link.nextFree, link.stalledUntil)
            link.nextFree = due
            if epoch == 1, !fromAttacker, c.interceptor != nil {
                scheduler.schedule(at: due, .intercept(connection: c.id, direction, segment, generation: c.generation))
            } else {
                scheduler.schedule(at: due, .deliver(connection: c.id, direction, segment, epoch: epoch, generation: c.generation))
            }
        }
    }

    /// Bytes arriving at a side from its link.
    func receive(_ c: Connection, at side: Side, _ bytes: [UInt8]) {
        let host = c.host(side)
        guard !host.closed else { return }
        guard let tls = host.tls else {
            apply(c, side, host.endpoint.receive(bytes))
            return
        }
        tls.receiveCiphertext(bytes)
        if !host.tlsEstablished {
            advanceHandshake(c, side)
            guard host.tlsEstablished else { return }
        }
        readPlaintext(c, side)
    }

    func readPlaintext(_ c: Connection, _ side: Side) {
        let host = c.host(side)
        guard let tls = host.tls, !host.closed else { return }
        switch tls.readPlaintext() {
        case .data(let plain):
            host.receivedInTLS += plain.count
            transmit(c, side == .client ? .clientToServer : .serverToClient, tls.drainCiphertext(), epoch: 1)
            apply(c, side, host.endpoint.receive(plain))
            if case .closed = tls.state { peerClosed(c, side, detail: "close_notify") }
        case .needMoreData:
            break
        case .closed:
            peerClosed(c, side, detail: "close_notify")
        case .failed(let failure):
            record(c.id, .tls(side: side.rawValue, ok: false, detail: failure.description))
            transmit(c, side.writes, tls.drainCiphertext(), epoch: 1)
            close(c, side, detail: "TLS record failure")
        }
    }

    func startTLS(_ c: Connection, _ side: Side) {
        let host = c.host(side)
        guard host.tls == nil, !host.closed else { return }
        let context = side == .server ? serverContext : clientContexts[min(c.client, clientContexts.count - 1)]
        guard let context else { return }
        let time = configuration.epoch + now / 1_000_000_000
        let serverName = configuration.clients.indices.contains(c.client) ? configuration.clients[c.client].configuration.serverName : nil
        do {
            host.tls = try TLSConnection(context: context, serverName: side == .client ? serverName : nil, verificationTime: time)
        } catch {
            record(c.id, .tls(side: side.rawValue, ok: false, detail: "setup failed: \(error)"))
            apply(c, side, host.endpoint.tlsFinished(TLSReport(established: false, peerVerified: false, failure: "internal-error")))
            return
        }
        record(c.id, .note(side: side.rawValue, text: "starting TLS"))
        if side == .client {
            // Unplaced faults waiting for the upgrade.
            checkTLSStartTriggers(c)
            if c.finished { return }
            if let contexts = attackerContexts, c.interceptor == nil, c.serverHost.tls != nil || c.attacker?.serverToClientOpaque == true {
                startInterception(c, contexts, time: time)
            }
            advanceHandshake(c, .client)
        }
    }

    func advanceHandshake(_ c: Connection, _ side: Side) {
        let host = c.host(side)
        guard let tls = host.tls else { return }
        let status = tls.advanceHandshake()
        let out = tls.drainCiphertext()
        if side == .server { c.s2c.handshakeOctets += out.count }
        transmit(c, side.writes, out, epoch: 1)
        if side == .server { checkHandshakeTriggers(c) }
        if c.finished { return }
        switch status {
        case .needMoreData:
            return
        case .complete(let details):
            if side == .client, let forced = forcedHandshakeFailure(c) {
                record(c.id, .fault(name: "fail-handshake", detail: forced))
                record(c.id, .tls(side: "client", ok: false, detail: "forced: \(forced)"))
                let report = TLSReport(established: false, peerVerified: false, failure: forced, rfc8460ResultType: Self.rfc8460(forced))
                apply(c, .client, host.endpoint.tlsFinished(report))
                if !host.closed { close(c, .client, detail: "handshake failed") }
                return
            }
            host.tlsEstablished = true
            keyLogLines += tls.keyLogLines
            let verified = details.peerVerified
            host.peerVerified = verified || details.usedPreSharedKey
            record(c.id, .tls(side: side.rawValue, ok: true, detail: "\(details.version) \(details.cipherSuite)\(side == .client ? (verified ? ", peer verified" : ", peer NOT verified: \(details.verifyResultText)") : "")"))
            let report = TLSReport(completed: details, role: side == .client ? .client : .server)
            apply(c, side, host.endpoint.tlsFinished(report))
            // Application data may have arrived with the last handshake flight.
            readPlaintext(c, side)
        case .failed(let failure):
            record(c.id, .tls(side: side.rawValue, ok: false, detail: failure.description))
            apply(c, side, host.endpoint.tlsFinished(TLSReport(failed: failure)))
            if !host.closed { close(c, side, detail: "handshake failed") }
        }
    }

    static func rfc8460(_ kind: String) -> String {
        TLSFailure.Kind(rawValue: kind).map { TLSFailure($0, reason: "").rfc8460ResultType ?? "validation-failure" } ?? "validation-failure"
    }

    /// A side closes: TLS says goodbye, the link carries a FIN after its pending bytes.
    func close(_ c: Connection, _ side: Side, detail: String) {
        let host = c.host(side)
        guard !host.closed else { return }
        host.closed = true
        host.timers.removeAll()
        record(c.id, .closed(side: side.rawValue, detail: detail))
        if let tls = host.tls, host.tlsEstablished {
            tls.sendCloseNotify()
            transmit(c, side.writes, tls.drainCiphertext(), epoch: 1)
        }
        let link = c.link(side.writes)
        scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, side.writes, generation: c.generation))
        if c.clientHost.closed && c.serverHost.closed { connectionEnded(c) }
    }

    /// A side learns its peer is gone.
    func peerClosed(_ c: Connection, _ side: Side, detail: String) {
        let host = c.host(side)
        guard !host.closed else {
            if c.clientHost.closed && c.serverHost.closed { connectionEnded(c) }
            return
        }
        record(c.id, .closed(side: side.rawValue == "client" ? "server" : "client", detail: detail))
        apply(c, side, host.endpoint.peerClosed())
        if !host.closed { close(c, side, detail: "after the peer closed") }
    }

    /// The connection breaks: nothing more is delivered; both sides learn it now.
    func reset(_ c: Connection) {
        guard !c.finished else { return }
        c.generation += 1
        c.c2s.open = false
        c.s2c.open = false
        for side in Side.allCases where !c.host(side).closed {
            let host = c.host(side)
            record(c.id, .closed(side: side.rawValue, detail: "connection reset"))
            let actions = host.endpoint.peerClosed()
            host.closed = true
            host.timers.removeAll()
            for case .note(let text) in actions { record(c.id, .note(side: side.rawValue, text: text)) }
        }
        connectionEnded(c)
    }
}

// MARK: - TLS interception (CATALOG C6)

extension World {
    func startInterception(_ c: Connection, _ contexts: (facingClient: TLSContext, facingServer: TLSContext), time: Int64) {
        do {
            let toClient = try TLSConnection(context: contexts.facingClient, verificationTime: time)
            let toServer = try TLSConnection(context: contexts.facingServer, serverName: configuration.server.configuration.hostname, verificationTime: time)
            c.interceptor = Interceptor(facingClient: toClient, facingServer: toServer)
            record(c.id, .attack(name: "intercept-tls", detail: "terminating the client's TLS with the attacker's own certificate"))
            _ = toServer.advanceHandshake()
            transmit(c, .clientToServer, toServer.drainCiphertext(), epoch: 1, fromAttacker: true)
        } catch {
            record(c.id, .attack(name: "intercept-tls", detail: "could not start: \(error)"))
        }
    }

    /// Records from one side reach the attacker's session facing that side.
    func intercepted(_ c: Connection, _ direction: Direction, _ bytes: [UInt8]) {
        guard let i = c.interceptor else { return }
        let near = direction == .clientToServer ? i.facingClient : i.facingServer
        near.receiveCiphertext(bytes)
        if !near.isEstablished {
            let status = near.advanceHandshake()
            transmit(c, direction.reversed, near.drainCiphertext(), epoch: 1, fromAttacker: true)
            switch status {
            case .needMoreData: return
            case .failed(let f):
                record(c.id, .attack(name: "intercept-tls", detail: "\(direction == .clientToServer ? "client-side" : "server-side") handshake failed: \(f.kind.rawValue)"))
                return
            case .complete(let d):
                record(c.id, .attack(name: "intercept-tls", detail: "\(direction == .clientToServer ? "client" : "server") side established (\(d.version))"))
            }
        }
        if case .data(let plain) = near.readPlaintext() {
            if direction == .clientToServer {
                i.pendingToServer += plain
                i.relayed.toServer += plain.count
                record(c.id, .attack(name: "intercept-tls", detail: "read \(plain.count) octets of the client's plaintext: \(TraceEvent.preview(Array(plain.prefix(60)), 0))"))
            } else if i.facingClient.isEstablished {
                try? i.facingClient.writePlaintext(plain)
                i.relayed.toClient += plain.count
                transmit(c, .serverToClient, i.facingClient.drainCiphertext(), epoch: 1, fromAttacker: true)
            }
        }
        transmit(c, direction.reversed, near.drainCiphertext(), epoch: 1, fromAttacker: true)
        if i.facingServer.isEstablished, !i.pendingToServer.isEmpty {
            try? i.facingServer.writePlaintext(i.pendingToServer)
            i.pendingToServer = []
            transmit(c, .clientToServer, i.facingServer.drainCiphertext(), epoch: 1, fromAttacker: true)
        }
    }
}
