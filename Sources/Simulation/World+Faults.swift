import EndpointHosting
import SMTPTLS

/// Where faults strike: pattern and phase triggers on what the sides write, TLS start,
/// handshake progress, time.
extension World {
    var faultsActive: Bool { now < configuration.faultWindow }

    /// Checks write triggers for one side's write. May change `bytes` (a replaced reply) and
    /// returns where to cut it (the rest is caught by a pending effect), if anywhere.
    func checkWriteTriggers(_ c: Connection, _ side: Side, _ bytes: inout [UInt8]) -> Int? {
        var cut: Int?
        for firing in c.tracker.firings(bytes, by: side, epoch: c.host(side).epoch, armed: faultsActive) {
            let rule = configuration.faults[firing.rule]
            let at = firing.afterOctets
            record(c.id, .fault(name: rule.effect.kind.rawValue, detail: "at \(rule.at?.written.description ?? "") on the \(side.rawValue)'s write"))
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
        return cut
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
        for k in c.tracker.firings(at: .tlsStarted, armed: faultsActive) { strike(c, ruleIndex: k) }
    }

    func forcedHandshakeFailure(_ c: Connection) -> TLSFailure.Kind? {
        if let forced = c.forcedHandshakeFailure { return forced }
        guard faultsActive else { return nil }
        for rule in configuration.faults where rule.applies(to: c.id) && rule.at == nil {
            if case .failHandshake(let kind) = rule.effect { return kind }
        }
        return nil
    }

    /// Fires rule `k` now if it has not fired on this connection (time and connection-open
    /// triggers).
    func fire(_ c: Connection, ruleIndex k: Int) {
        guard faultsActive, !c.finished, c.tracker.markFired(k) else { return }
        strike(c, ruleIndex: k)
    }

    /// Carries out rule `k`, which the tracker has just marked fired.
    func strike(_ c: Connection, ruleIndex k: Int) {
        guard !c.finished else { return }
        let rule = configuration.faults[k]
        record(c.id, .fault(name: rule.effect.kind.rawValue, detail: rule.at.map { "at \($0.written)" } ?? "always"))
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
            c.serverHost.shutdown()
        case .failHandshake(let kind):
            c.forcedHandshakeFailure = kind
        case .replaceReply, .latency, .split, .coalesce, .corrupt, .resetProbability, .refuseConnection, .connectTimeout:
            break
        }
    }
}
