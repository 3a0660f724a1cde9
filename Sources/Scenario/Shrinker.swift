import EndpointHosting
import Simulation

/// Shrinks a failing run (docs/design.md rule 7; TigerBeetle's VOPR): fewer faults, fewer attacker
/// actions, fewer messages and clients, earlier fault points — while it still fails the same way.
public enum Shrinker {
    public struct Result: Sendable {
        public var scenario: Scenario
        public var report: ScenarioReport
        /// Runs tried.
        public var attempts: Int
    }

    /// What kind of failure a report shows: the expectation keys it breaks and the oracles that fire.
    static func signature(_ r: ScenarioReport) -> Set<String> {
        Set(r.failures.map { String($0.prefix { $0 != ":" }) }).union(r.result.findings.map { "finding " + $0.oracle.rawValue })
    }

    public static func shrink(_ scenario: Scenario, seed: UInt64, budget: Int = 300) throws -> Result {
        var current = scenario
        current.configuration = scenario.configuration(seed: seed)  // swarm faults made explicit
        current.sweep = nil
        current.seed = seed
        var best = try ScenarioRunner.run(current, seed: seed, trace: .forVerdicts)
        let target = signature(best)
        var attempts = 1
        func stillFails(_ candidate: Scenario) throws -> ScenarioReport? {
            guard attempts < budget else { return nil }
            attempts += 1
            let r = try ScenarioRunner.run(candidate, seed: seed, trace: .forVerdicts)
            return !r.passed && signature(r) == target ? r : nil
        }
        var progress = true
        while progress {
            progress = false
            // Fewer faults.
            for i in current.configuration.faults.indices.reversed() where i < current.configuration.faults.count {
                var c = current
                c.configuration.faults.remove(at: i)
                if let r = try stillFails(c) { current = c; best = r; progress = true }
            }
            // Fewer attacker actions.
            for i in current.configuration.attacker.indices.reversed() where i < current.configuration.attacker.count {
                var c = current
                c.configuration.attacker.remove(at: i)
                if let r = try stillFails(c) { current = c; best = r; progress = true }
            }
            // Fewer clients, fewer messages.
            while current.configuration.clients.count > 1 {
                var c = current
                c.configuration.clients.removeLast()
                c.clientScripts.removeLast()
                guard let r = try stillFails(c) else { break }
                current = c; best = r; progress = true
            }
            for k in current.configuration.clients.indices {
                while current.configuration.clients[k].messages.count > 1 {
                    var c = current
                    c.configuration.clients[k].messages.removeLast()
                    guard let r = try stillFails(c) else { break }
                    current = c; best = r; progress = true
                }
            }
            // Earlier fault points.
            for i in current.configuration.faults.indices {
                guard case .phase(let phase)? = current.configuration.faults[i].at,
                    let index = ProtocolPhase.allCases.firstIndex(of: phase)
                else { continue }
                for earlier in ProtocolPhase.allCases[..<index] {
                    var c = current
                    c.configuration.faults[i].at = .phase(earlier)
                    if let r = try stillFails(c) { current = c; best = r; progress = true; break }
                }
            }
        }
        return Result(scenario: current, report: best, attempts: attempts)
    }
}
