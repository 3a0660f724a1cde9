import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// One of the checks every simulated run passes through (docs/design.md, "Oracles";
/// docs/catalog.md §5). An oracle watches each side's writes as they happen and may conclude at
/// the end of the run; it reports through `World.flag` (every occurrence on a connection, up to
/// `World.findingsPerConnection`) and `World.report` (run-wide: each distinct finding once).
protocol RunOracle: Sendable {
    /// A side wrote `bytes` on `connection` (what it wrote, before any fault); `client` is what
    /// the tracker read of a client write.
    func observe(_ connection: Connection, _ side: Side, _ bytes: [UInt8], _ client: TriggerTracker.ClientStep?, in world: World)
    /// The run is over and every outcome is known.
    func finish(outcomes: [MessageOutcome], accepted: [AcceptedMessage], in world: World)
}

extension RunOracle {
    func observe(_ connection: Connection, _ side: Side, _ bytes: [UInt8], _ client: TriggerTracker.ClientStep?, in world: World) {}
    func finish(outcomes: [MessageOutcome], accepted: [AcceptedMessage], in world: World) {}
}

extension World {
    /// Every oracle, in the order they look at a write and conclude.
    static let oracles: [RunOracle] = [TransactionCountOracle(), PlaintextExposureOracle(), TLSBoundaryOracle(), StateResetOracle(), TLSTeardownOracle(), LivenessOracle()]

    /// Online checks on each write. Byte-level: this runs on every write.
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?) {
        for oracle in Self.oracles { oracle.observe(c, side, bytes, step, in: self) }
        // What the end-of-run state-reset check needs to know of this write.
        if side == .server, c.serverHost.tlsEstablished, bytes.starts(with: Self.code235) || Octets.contains(bytes, Self.lineCode235) {
            c.serverSent235InTLS = true
        }
    }

    /// End-of-run oracles, outcomes, the result.
    func finish() -> RunResult {
        // The reply grammar is judged on the trace before the outcomes are recorded into it.
        ReplyGrammarOracle().check(in: self)
        let accepted = lastHop.serverProgram.accepted
        var outcomes: [MessageOutcome] = []
        var forwarded: [MessageOutcome] = []
        for (index, program) in clientPrograms.enumerated() {
            let results = program.outcomes
            for message in program.intendedMessages {
                if let o = results[message.id] {
                    if program === forwarder { forwarded.append(o) } else { outcomes.append(o) }
                    record(0, .outcome(message: message.id, status: o.status.rawValue, detail: o.reason + (o.tlsResultType.map { " [\($0.rawValue)]" } ?? "")))
                } else if program.reportsOutcomes {
                    report(LivenessOracle.missingOutcome(client: index, message: message.id, at: trace.count))
                }
            }
        }
        for oracle in Self.oracles { oracle.finish(outcomes: outcomes, accepted: accepted, in: self) }
        var result = RunResult(
            seed: configuration.seed, trace: trace, findings: findings, outcomes: outcomes, accepted: accepted,
            relayed: hops.count > 1 ? hops[0].serverProgram.accepted : [], forwarded: forwarded,
            events: processedEvents, duration: now, connections: connections.count, keyLogLines: keyLogLines)
        result.attacksNotApplicable = attacksNotApplicable
        return result
    }

    /// Findings kept per connection (`SessionJudge.findingsPerConnection`), then one line that says so.
    static let findingsPerConnection = SessionJudge.findingsPerConnection

    /// `side` broke `oracle`'s rule on `c`, at the latest trace event.
    func flag(_ c: Connection, _ oracle: Oracle, _ side: Side, _ explanation: String, _ reference: String) {
        c.findingCount += 1
        if c.findingCount == Self.findingsPerConnection + 1 {
            record(c.id, .note(side: "run", text: "more than \(Self.findingsPerConnection) findings on connection \(c.id): the rest are not reported"))
        }
        guard c.findingCount <= Self.findingsPerConnection else { return }
        let finding = Finding(oracle: oracle, side: side, eventIndex: max(0, trace.count - 1), explanation: "connection \(c.id): \(explanation)", reference: reference)
        findings.append(finding)
        record(0, .finding(finding))
    }

    static let code235 = Array("235".utf8), lineCode235 = Array("\r\n235".utf8)
}
