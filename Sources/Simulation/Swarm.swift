import EndpointHosting

/// Swarm testing (TigerBeetle's VOPR): each seed picks its own mix of faults, so a sweep over
/// seeds explores combinations no hand-written list would.
public struct FaultSwarm: Hashable, Sendable, Codable {
    public struct Candidate: Hashable, Sendable, Codable {
        public var rule: FaultRule
        /// Chance that a given seed includes this fault.
        public var probability: Ratio
        /// Strike at a protocol phase chosen by the seed instead of the rule's own trigger.
        public var randomPhase: Bool
        /// For stalls and latency: the seed picks a duration up to the rule's.
        public var randomDuration: Bool

        public init(_ rule: FaultRule, probability: Ratio, randomPhase: Bool = false, randomDuration: Bool = false) {
            self.rule = rule
            self.probability = probability
            self.randomPhase = randomPhase
            self.randomDuration = randomDuration
        }
    }

    public var candidates: [Candidate]

    public init(_ candidates: [Candidate]) {
        self.candidates = candidates
    }

    /// The faults this seed runs with: deterministic in the seed alone.
    public func choose(seed: UInt64) -> [FaultRule] {
        var rng = SimRandom(seed: seed).child("swarm")
        var out: [FaultRule] = []
        for candidate in candidates where rng.chance(candidate.probability) {
            var rule = candidate.rule
            if candidate.randomPhase {
                let phases = ProtocolPhase.allCases
                rule.at = .phase(phases[Int(rng.int(in: 0...Int64(phases.count - 1)))])
            }
            if candidate.randomDuration {
                switch rule.effect {
                case .stall(let d): rule.effect = .stall(duration: rng.int(in: 0...max(0, d)))
                case .latency(let lo, let hi): rule.effect = .latency(min: lo, max: rng.int(in: lo...max(lo, hi)))
                case .split(let n): rule.effect = .split(maxSegment: Int(rng.int(in: 1...Int64(max(1, n)))))
                case .tlsRecordSize(let side, let n): rule.effect = .tlsRecordSize(from: side, octets: Int(rng.int(in: 1...Int64(max(1, n)))))
                case .reset, .resetProbability, .halfClose, .truncate, .corrupt, .replaceReply, .failHandshake, .async421,
                    .refuseConnection, .connectTimeout, .coalesce, .tlsCloseNotify, .tlsAlert, .tlsTruncatedRecord, .tlsBadRecord,
                    .tlsKeyUpdate, .tlsRenegotiate, .plaintextAfterTLS:
                    break
                }
            }
            out.append(rule)
        }
        return out
    }
}
