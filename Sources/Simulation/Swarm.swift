import EndpointHosting
import SMTPCore

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
                let phases = ProtocolPhase.drawn
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

/// The vocabulary an attacker at the STARTTLS boundary injects (docs/catalog.md D1–D3): every
/// command verb smtpsim's parser knows, with the arguments a real attack uses, a pipelined
/// transaction, and an unknown verb (RFC 5321 §4.1.1, RFC 3207, RFC 4954, RFC 3030); and one
/// reply of every code the client acts on (RFC 5321 §4.2.2–§4.2.3, RFC 4954 §6, RFC 3207 §4),
/// single-line and multiline.
public enum InjectionVocabulary {
    public static let commands: [String] = [
        "EHLO attacker.test\r\n", "HELO attacker.test\r\n", "MAIL FROM:<attacker@evil.test>\r\n", "RCPT TO:<victim@example.net>\r\n",
        "DATA\r\n", "BDAT 5 LAST\r\nhello", "RSET\r\n", "NOOP\r\n", "QUIT\r\n", "VRFY postmaster\r\n", "HELP\r\n", "STARTTLS\r\n",
        "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "AUTH LOGIN\r\n", "XEVIL\r\n",
        "MAIL FROM:<attacker@evil.test>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n",
    ]
    public static let replies: [String] = [
        "211 status\r\n", "214 help\r\n", "220 ready\r\n", "221 bye\r\n", "235 2.7.0 authenticated\r\n", "250 ok\r\n",
        "250-evil.test\r\n250 AUTH PLAIN LOGIN\r\n", "251 forwarded\r\n", "252 cannot verify\r\n", "334 \r\n", "354 go ahead\r\n",
        "421 closing\r\n", "450 busy\r\n", "451 local error\r\n", "452 no room\r\n", "454 TLS not available\r\n", "500 unknown\r\n",
        "501 syntax\r\n", "502 not implemented\r\n", "503 bad sequence\r\n", "504 parameter\r\n", "530 authenticate first\r\n",
        "535 bad credentials\r\n", "550 no such user\r\n", "552 too big\r\n", "553 bad name\r\n", "554 failed\r\n",
    ]
}

/// `sweep.inject`: seed k injects one command toward the server right behind STARTTLS (in
/// its segment) and one reply toward the client right after the 220, walking every pair:
/// seeds 1…(commands × replies) cover them all.
public struct InjectionSweep: Hashable, Sendable {
    public var towardServer: [String]
    public var towardClient: [String]

    public init(towardServer: [String], towardClient: [String]) {
        self.towardServer = towardServer
        self.towardClient = towardClient
    }

    public var count: Int { max(1, towardServer.count) * max(1, towardClient.count) }

    /// The attacker actions of `seed`.
    public func actions(seed: UInt64) -> [AttackAction] {
        let k = SeedCell.index(seed: seed, cells: count)
        var out: [AttackAction] = []
        if !towardServer.isEmpty { out.append(.injectToServer(bytes: towardServer[k % towardServer.count], sameSegment: true)) }
        if !towardClient.isEmpty { out.append(.injectToClient(bytes: towardClient[(k / max(1, towardServer.count)) % towardClient.count])) }
        return out
    }
}

/// The one rule by which a sweep's seeds walk a table of cells: seed k runs cell (k − 1) mod the
/// cell count, so seeds 1…count cover the table once (docs/scenario-format.md "sweep").
public enum SeedCell {
    /// The cell of `seed` among `cells` (more than none).
    public static func index(seed: UInt64, cells: Int) -> Int { Int((seed &- 1) % UInt64(cells)) }
}
