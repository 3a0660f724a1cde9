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
            let rule = c.faults[firing.rule]
            let at = firing.afterOctets
            record(c.id, .fault(name: rule.effect.kind.rawValue, detail: "at \(rule.at?.written.description ?? "") on the \(side.rawValue)'s write"))
            guard let step = rule.effect.step else { continue }
            switch step.timing(triggeredBy: side) {
            case .afterPrecedingOctets(let cuts):
                if cuts { cut = min(cut ?? at, at) }
                if step.endsTLSSession { c.tlsEndingFault = "at \(rule.at?.written.description ?? "")" }
                c.pendingEffects.append(step)
            case .atOnce:
                switch step {
                case .replaceWrite(let replacement):
                    bytes = replacement
                case .stall(let duration):
                    c.link(rule.direction ?? side.writes).stalledUntil = later(duration)
                default:
                    fire(c, step: step, direction: rule.direction)  // record faults wait for the next record
                }
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
        for effect in effects { scheduler.schedule(at: due, .effect(connection: c.id, Boxed(effect), generation: c.generation)) }
    }

    func checkTLSStartTriggers(_ c: Connection) {
        for k in c.tracker.firings(at: .tlsStarted, armed: faultsActive) { strike(c, ruleIndex: k) }
    }

    func forcedHandshakeFailure(_ c: Connection) -> TLSFailure.Kind? {
        if let forced = c.forcedHandshakeFailure { return forced }
        guard faultsActive else { return nil }
        for rule in c.faults where rule.applies(to: c.ordinal) && rule.at == nil {
            if case .failHandshake(let kind) = rule.effect.step { return kind }
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
        let rule = c.faults[k]
        record(c.id, .fault(name: rule.effect.kind.rawValue, detail: rule.at.map { "at \($0.written)" } ?? "always"))
        guard let step = rule.effect.step else { return }
        if step.endsTLSSession { c.tlsEndingFault = "at \(rule.at?.written.description ?? "")" }
        fire(c, step: step, direction: rule.direction)
    }

    /// Carries out a step of the fault plan on connection `c` (`direction`: the rule's).
    func fire(_ c: Connection, step: FaultStep, direction: Direction?) {
        switch step {
        case .reset:
            reset(c)
        case .finish(let d):
            let link = c.link(d)
            scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, d, generation: c.generation))
        case .blackhole(let d):
            c.link(d).blackhole = true
        case .stall(let duration):
            for d in [Direction.clientToServer, .serverToClient] where direction.map({ $0 == d }) ?? true {
                c.link(d).stalledUntil = later(duration)
            }
        case .shutdown:
            c.serverHost.shutdown()
        case .failHandshake(let kind):
            c.forcedHandshakeFailure = kind
        case .session(let side, let event, let then):
            perform(c, side, event, then: then)
        case .cleartext(let from, let bytes):
            guard c.host(from).tlsEstablished else {
                record(c.id, .note(side: from.rawValue, text: "plaintext-after-tls: no TLS session on this side"))
                return
            }
            transmit(c, from.writes, bytes, epoch: 2)
        case .damageRecord(let from, let damage):
            c.recordDamage[from] = damage
        case .recordSize(let from, let octets):
            setRecordSize(c, from, octets)
        case .replaceWrite, .refuse, .connectTimeout:
            break  // only at a write, and at connection time
        }
    }

    /// A TLS session event on `side`, then what the fault says follows (docs/catalog.md I).
    private func perform(_ c: Connection, _ side: Side, _ event: TLSSessionEvent, then: TLSAftermath) {
        let host = c.host(side)
        guard host.perform(event) else {
            let why = host.tlsEstablished ? "the TLS engine cannot do this in the version negotiated" : "no established TLS session on this side"
            record(c.id, .note(side: side.rawValue, text: "\(event): \(why)"))
            return
        }
        guard !c.finished else { return }
        if let text = then.plaintext { transmit(c, side.writes, Array(text.utf8), epoch: 2) }
        if then.close {
            let link = c.link(side.writes)
            scheduler.schedule(at: max(now, link.nextFree), .fin(connection: c.id, side.writes, generation: c.generation))
        }
    }

    func setRecordSize(_ c: Connection, _ side: Side?, _ octets: Int) {
        for s in Side.allCases where side.map({ $0 == s }) ?? true { c.host(s).recordSize = max(1, octets) }
    }

    /// A record fault waiting for the next TLS record `side` sends: applied to `bytes`.
    func damageRecord(_ c: Connection, _ side: Side, _ bytes: inout [UInt8]) -> RecordDamage? {
        guard let damage = c.recordDamage[side], let what = damage.apply(to: &bytes) else { return nil }
        c.recordDamage[side] = nil
        record(c.id, .fault(name: damage.kind.rawValue, detail: "the \(side.rawValue)'s \(what)"))
        return damage
    }
}

