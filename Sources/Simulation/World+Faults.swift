import EndpointHosting

/// Where faults strike: pattern and phase triggers on what the sides write, TLS start,
/// handshake progress, time.
extension World {
    private var faultsActive: Bool { now < configuration.faultWindow }

    /// Checks write triggers for one side's write. May change `bytes` (a replaced reply) and
    /// returns where to cut it (the rest is caught by a pending effect), if anywhere.
    func checkWriteTriggers(_ c: Connection, _ side: Side, _ bytes: inout [UInt8]) -> Int? {
        guard faultsActive else { return updateWindow(c.host(side), bytes) }
        let host = c.host(side)
        var cut: Int?
        for (k, rule) in configuration.faults.enumerated() where k < c.fired.count && !c.fired[k] && rule.applies(to: c.id) {
            guard let placed = rule.at else { continue }
            let trigger = placed.resolved
            var position: Int?
            switch trigger {
            case .write(let s, let pattern, let mode, let epoch):
                guard s == side, epoch.map({ $0 == host.epoch }) ?? true else { continue }
                guard let end = Self.matchEnd(host.window, bytes, Array(pattern.utf8)) else { continue }
                position = mode == .afterMatch ? end : bytes.count
            case .midBody:
                guard side == .client, c.saw354, !c.sawFinalDot else { continue }
                position = max(1, bytes.count / 2)
            case .finalReply:
                guard side == .server, c.sawFinalDot else { continue }
                position = bytes.count
            case .connectionOpened, .atTime, .tlsStarted, .handshakeBytes, .phase:
                continue
            }
            guard let at = position else { continue }
            c.fired[k] = true
            record(c.id, .fault(name: rule.effect.nameAndSettings.name, detail: "at \(placed.written) on the \(side.rawValue)'s write"))
            switch rule.effect {
            case .replaceReply(let text):
                bytes = Array(text.utf8)
            case .stall(let duration):
                c.link(rule.direction ?? side.writes).stalledUntil = later(duration)
            case .reset, .halfClose, .truncate, .async421:
                cut = min(cut ?? at, at)
                c.pendingEffects.append(rule.effect)
            case .failHandshake(let kind):
                c.forcedHandshakeFailure = kind
            case .latency, .split, .coalesce, .corrupt, .resetProbability, .refuseConnection, .connectTimeout:
                break
            }
        }
        _ = updateWindow(host, bytes)
        return cut
    }

    private func updateWindow(_ host: Host, _ bytes: [UInt8]) -> Int? {
        host.window = Array((host.window + bytes).suffix(32))
        return nil
    }

    /// End (in `bytes`) of the first match of `pattern` that ends inside `bytes`.
    static func matchEnd(_ window: [UInt8], _ bytes: [UInt8], _ pattern: [UInt8]) -> Int? {
        guard !pattern.isEmpty else { return nil }
        let all = window + bytes
        guard all.count >= pattern.count else { return nil }
        var i = max(0, window.count - pattern.count + 1)
        while i + pattern.count <= all.count {
            if all[i] == pattern[0], Array(all[i..<(i + pattern.count)]) == pattern {
                let end = i + pattern.count - window.count
                if end > 0 { return end }
            }
            i += 1
        }
        return nil
    }

    /// Carries out effects that wait for the current write: when the bytes before the cut have
    /// arrived (a reset after the final dot lets the dot reach the server and loses the reply).
    func firePendingCut(_ c: Connection, after direction: Direction) {
        let effects = c.pendingEffects
        c.pendingEffects = []
        let due = max(now, c.link(direction).nextFree)
        for effect in effects { scheduler.schedule(at: due, .effect(connection: c.id, effect, generation: c.generation)) }
    }

    func checkTLSStartTriggers(_ c: Connection) {
        guard faultsActive else { return }
        for (k, rule) in configuration.faults.enumerated() where k < c.fired.count && !c.fired[k] && rule.applies(to: c.id) {
            guard case .tlsStarted? = rule.at?.resolved else { continue }
            fire(c, ruleIndex: k, side: .client)
        }
    }

    func checkHandshakeTriggers(_ c: Connection) {
        guard faultsActive else { return }
        for (k, rule) in configuration.faults.enumerated() where k < c.fired.count && !c.fired[k] && rule.applies(to: c.id) {
            guard case .handshakeBytes(let n)? = rule.at?.resolved, c.s2c.handshakeOctets >= n else { continue }
            fire(c, ruleIndex: k, side: .server)
        }
    }

    func forcedHandshakeFailure(_ c: Connection) -> String? {
        if let forced = c.forcedHandshakeFailure { return forced }
        guard faultsActive else { return nil }
        for rule in configuration.faults where rule.applies(to: c.id) && rule.at == nil {
            if case .failHandshake(let kind) = rule.effect { return kind }
        }
        return nil
    }

    /// Fires rule `k` now (time, connection-open, TLS-start and handshake triggers).
    func fire(_ c: Connection, ruleIndex k: Int, side: Side?) {
        guard k < c.fired.count, !c.fired[k], faultsActive, !c.finished else { return }
        c.fired[k] = true
        let rule = configuration.faults[k]
        record(c.id, .fault(name: rule.effect.nameAndSettings.name, detail: rule.at.map { "at \($0.written)" } ?? "always"))
        fire(c, effect: rule.effect, direction: rule.direction)
    }

    func fire(_ c: Connection, effect: FaultEffect, direction: Direction?) {
        switch effect {
        case .reset:
            reset(c)
        case .halfClose(let d):
            let link = c.link(d)
            scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, d, generation: c.generation))
        case .truncate(let d):
            c.link(d).blackhole = true
        case .stall(let duration):
            for d in [Direction.clientToServer, .serverToClient] where direction.map({ $0 == d }) ?? true {
                c.link(d).stalledUntil = later(duration)
            }
        case .async421:
            apply(c, .server, c.serverHost.endpoint.shutdown())
        case .failHandshake(let kind):
            c.forcedHandshakeFailure = kind
        case .replaceReply, .latency, .split, .coalesce, .corrupt, .resetProbability, .refuseConnection, .connectTimeout:
            break
        }
    }
}
