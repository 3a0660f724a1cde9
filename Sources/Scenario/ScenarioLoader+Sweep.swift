import EndpointHosting
import SMTPCore
import SMTPServer
import Simulation

/// The `sweep` section of a scenario file (docs/scenario-format.md, "sweep"): seeds, swarm
/// faults, the fault grid and the injection walk.
extension ScenarioLoader {
    static func readSweep(_ r: YAMLReader) throws(ScenarioError) -> SweepSpec {
        let o = try r.object(["seeds", "swarm", "grid", "inject", "replies", "pairs", "compare"])
        var seeds: ClosedRange<UInt64>?
        if let s = o["seeds"] { seeds = try readSeedRange(s) }
        var grid: FaultGrid?
        if let g = o["grid"] {
            let go = try g.object(["faults", "at", "from"])
            let faults = try go.required("faults").list().map { x throws(ScenarioError) in try readFault(x, template: true) }
            let phases = try go.required("at").listOrOne().map { x throws(ScenarioError) in try x.enumeration(ProtocolPhase.self, ProtocolPhase.allCases) }
            let sides = try go["from"]?.listOrOne().map { x throws(ScenarioError) in try x.enumeration(Side.self, Side.allCases) } ?? Side.allCases
            guard !faults.isEmpty, !phases.isEmpty, !sides.isEmpty else { throw g.error("a grid needs at least one fault, one phase (at) and one side (from)") }
            grid = FaultGrid(faults: faults, phases: phases, sides: sides)
        }
        let candidates = try o["swarm"]?.list().map { item throws(ScenarioError) -> FaultSwarm.Candidate in
            let c = try item.object(["probability", "random-phase", "random-duration", "fault"])
            return FaultSwarm.Candidate(
                try readFault(try c.required("fault")), probability: try readRatio(try c.required("probability")),
                randomPhase: try c["random-phase"]?.bool() ?? false, randomDuration: try c["random-duration"]?.bool() ?? false)
        } ?? []
        var inject: InjectionSweep?
        if let i = o["inject"] {
            let io = try i.object(["toward-server", "toward-client"])
            func list(_ key: String, _ vocabulary: [String]) throws(ScenarioError) -> [String] {
                guard let v = io[key] else { return [] }
                if let word = try? v.string() {
                    guard word == "vocabulary" else { throw v.error("expected 'vocabulary' or a list of texts, found '\(word)'") }
                    return vocabulary
                }
                return try v.list().map { x throws(ScenarioError) in try x.string() }
            }
            inject = InjectionSweep(towardServer: try list("toward-server", InjectionVocabulary.commands),
                                    towardClient: try list("toward-client", InjectionVocabulary.replies))
            guard inject!.towardServer.count + inject!.towardClient.count > 0 else { throw i.error("inject needs toward-server or toward-client") }
        }
        var replies: ReplyTable?
        if let t = o["replies"] {
            let to = try t.object(["to", "with"])
            let rows = try to["to"]?.listOrOne().map { x throws(ScenarioError) in try readTrigger(x) }
                ?? ReplyTable.commands.map { ServerRule.Trigger.named($0) }
            let columns = try to["with"]?.listOrOne().map { x throws(ScenarioError) -> String in
                let text = try x.string()
                if text != "silent" { _ = try readRuleReply(x) }
                return text
            } ?? ReplyTable.classes
            guard !rows.isEmpty, !columns.isEmpty else { throw t.error("a reply table needs at least one command (to) and one reply (with)") }
            replies = ReplyTable(rows: rows, columns: columns)
        }
        var pairs: SmugglingPairs?
        if let p = o["pairs"] {
            let po = try p.object(["variants", "outbound", "inbound"])
            func all<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(ScenarioError) -> [T] where T.RawValue == String {
                guard let v = po[key] else { return Array(T.allCases) }
                if v.isScalar, try v.string() == "all" { return Array(T.allCases) }
                return try v.listOrOne().map { x throws(ScenarioError) in try x.enumeration(T.self, Array(T.allCases)) }
            }
            var rows = SmugglingPairs.Row.all
            if let v = po["variants"], !(v.isScalar && (try? v.string()) == "all") {
                let names = SmugglingPairs.Row.all.map(\.name)
                rows = try v.listOrOne().map { x throws(ScenarioError) in
                    let name = try x.string()
                    guard let row = SmugglingPairs.Row(name: name) else {
                        throw x.error("unknown value '\(name)'; expected one of: \(names.joined(separator: ", "))", suggestion: closest(name, among: names))
                    }
                    return row
                }
            }
            pairs = SmugglingPairs(rows: rows, outbound: try all("outbound", SmugglingPairs.Outbound.self),
                                   inbound: try all("inbound", SmugglingPairs.Inbound.self))
            guard pairs!.count > 0 else { throw p.error("a pair table needs at least one variant, outbound and inbound behaviour") }
        }
        var compare: SecurityComparison?
        if let c = o["compare"] {
            let co = try c.object(["attacks", "security"])
            // An attack, or {attack: ATTACK, findings: [ORACLES]}: what it must make fire where it applies.
            var attacks: [AttackAction] = []
            var findings: [[Oracle]?] = []
            for x in try co.required("attacks").list() {
                if x.node.mapping?.keys.contains(where: { $0.scalar?.string == "attack" }) == true {
                    let xo = try x.object(["attack", "findings"])
                    attacks.append(try readAttack(try xo.required("attack")))
                    findings.append(try xo["findings"].map { f throws(ScenarioError) in
                        try f.list().map { o throws(ScenarioError) in try o.enumeration(Oracle.self, Oracle.allCases) }
                    })
                } else {
                    attacks.append(try readAttack(x))
                    findings.append(nil)
                }
            }
            let securities = try co["security"]?.listOrOne().map { x throws(ScenarioError) in
                try x.enumeration(ConnectionSecurity.self, ConnectionSecurity.allCases)
            } ?? [.startTLS, .implicitTLS]
            guard !attacks.isEmpty, !securities.isEmpty else { throw c.error("a comparison needs at least one attack and one security") }
            guard Set(securities).count == securities.count else { throw c.error("each security once") }
            compare = SecurityComparison(attacks: attacks, securities: securities, findings: findings)
        }
        let tables = [grid != nil, inject != nil, replies != nil, pairs != nil, compare != nil].filter { $0 }.count
        if tables > 1 { throw r.error("one table per sweep: grid, inject, replies, pairs or compare") }
        return SweepSpec(seeds: seeds, swarm: FaultSwarm(candidates), grid: grid, inject: inject, replies: replies, pairs: pairs, compare: compare)
    }

    /// `A..B` (inclusive) or a single seed.
    public static func parseSeedRange(_ text: String) -> ClosedRange<UInt64>? {
        let parts = text.components(separatedBy: "..")
        if parts.count == 1, let v = UInt64(parts[0]) { return v...v }
        guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]), a <= b else { return nil }
        return a...b
    }

    static func readSeedRange(_ r: YAMLReader) throws(ScenarioError) -> ClosedRange<UInt64> {
        let text = try r.string()
        guard let range = parseSeedRange(text) else { throw r.error("expected seeds as A..B (e.g. 1..1000), found '\(text)'") }
        return range
    }
}
