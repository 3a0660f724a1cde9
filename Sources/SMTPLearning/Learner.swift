/// What the learner queries: a word of inputs (indices into `alphabet`) on a fresh connection,
/// answered by one output per input. Implementations: `InMemoryServer` (smtpsim's server through
/// the endpoint host), a socket edge for real servers.
public protocol SystemUnderLearning: AnyObject {
    var alphabet: [String] { get }
    func query(_ word: [Int]) throws -> [String]
}

/// Active automata learning of a Mealy machine (Angluin's L*, in Shahbaz and Groz's Mealy form,
/// with Rivest and Schapire's counterexample analysis, which adds one suffix per counterexample
/// and keeps the table's access rows distinct), an equivalence check by the W-method to a bound
/// and by seeded random walks, a prefix-tree query cache and repeated queries that detect a
/// nondeterministic system (reported, not hidden). Sans-IO apart from the system it queries: no
/// clock, randomness from `seed`.
public final class Learner {
    public struct Budget: Sendable {
        /// Queries the system may be asked (the cache answers the rest).
        public var queries = 100_000
        /// The W-method's middle words: every word up to this length between an access
        /// sequence and a distinguishing suffix.
        public var depth = 1
        /// Random walks after the W-method finds nothing.
        public var walks = 300
        public var walkLength = 12
        /// How often each new word is asked (2 or more: a word whose answers differ is reported).
        public var repeats = 1
        public init() {}
    }

    /// Two answers to one word that disagree.
    public struct Nondeterminism: Codable, Sendable, Equatable {
        public var word: [String]
        public var first: [String]
        public var second: [String]
    }

    public struct Stopped: Error, CustomStringConvertible {
        /// A budget ran out (learning may return its last hypothesis), or the system's answers
        /// cannot be taken in.
        public enum Reason: Sendable { case budget, unusableAnswers }
        public var reason: Reason
        public var description: String
    }

    public let system: SystemUnderLearning
    public let budget: Budget
    public private(set) var queries = 0
    public private(set) var cacheHits = 0
    public private(set) var counterexamples: [[String]] = []
    public private(set) var nondeterminism: [Nondeterminism] = []
    public private(set) var rounds = 0
    /// Called after each hypothesis with (round, states, queries).
    public var progress: (Int, Int, Int) -> Void = { _, _, _ in }
    /// Asked before each query to the system: true ends learning (the caller's time budget; the
    /// learner itself reads no clock).
    public var shouldStop: () -> Bool = { false }
    /// Words to check each hypothesis against before the W-method: `learn --diff` gives the
    /// hypothesis's shortest differences from the reference, so every difference it reports is
    /// one the system answered, not one the hypothesis guessed.
    public var tests: (MealyMachine) -> [[Int]] = { _ in [] }
    /// Why learning ended before the equivalence checks were done (a budget), if it did: the
    /// machine `learn` returned is then the last hypothesis.
    public private(set) var stoppedBecause: String?
    private var rng: UInt64

    private final class Node {
        var output: String?
        var children: [Int: Node] = [:]  // lookups only
    }
    private let root = Node()

    public init(system: SystemUnderLearning, budget: Budget = Budget(), seed: UInt64 = 1) {
        self.system = system
        self.budget = budget
        rng = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    var k: Int { system.alphabet.count }

    // MARK: - Queries

    /// The outputs of `word`, from the cache where it knows them.
    func outputs(_ word: [Int]) throws -> [String] {
        if let known = cached(word) {
            cacheHits += 1
            return known
        }
        guard queries < budget.queries else { throw Stopped(reason: .budget, description: "the query budget (\(budget.queries)) is spent") }
        if shouldStop() { throw Stopped(reason: .budget, description: "the time budget is spent") }
        queries += 1
        let answer = try system.query(word)
        guard answer.count == word.count else { throw Stopped(reason: .unusableAnswers, description: "the system answered \(answer.count) outputs to \(word.count) inputs") }
        for _ in 1..<max(1, budget.repeats) where queries < budget.queries {
            queries += 1
            let again = try system.query(word)
            if again != answer, !nondeterminism.contains(where: { $0.word == names(word) }) {
                nondeterminism.append(Nondeterminism(word: names(word), first: answer, second: again))
            }
        }
        insert(word, answer)
        return answer
    }

    func names(_ word: [Int]) -> [String] { word.map { system.alphabet[$0] } }

    private func cached(_ word: [Int]) -> [String]? {
        var node = root
        var out: [String] = []
        out.reserveCapacity(word.count)
        for input in word {
            guard let next = node.children[input], let o = next.output else { return nil }
            out.append(o)
            node = next
        }
        return out
    }

    private func insert(_ word: [Int], _ answer: [String]) {
        var node = root
        for (i, (input, output)) in zip(word, answer).enumerated() {
            let next = node.children[input] ?? Node()
            if let old = next.output, old != output {
                // A prefix answered before, differently: the system is not deterministic.
                nondeterminism.append(Nondeterminism(word: names(Array(word.prefix(i + 1))), first: [old], second: [output]))
            }
            next.output = output
            node.children[input] = next
            node = next
        }
    }

    /// The outputs of `suffix` after `prefix`.
    func suffixOutputs(_ prefix: [Int], _ suffix: [Int]) throws -> [String] {
        Array(try outputs(prefix + suffix).suffix(suffix.count))
    }

    // MARK: - L*

    private var access: [[Int]] = [[]]
    private var suffixes: [[Int]] = []

    private func row(_ prefix: [Int]) throws -> [String] {
        try suffixes.map { try suffixOutputs(prefix, $0).joined(separator: "|") }
    }

    /// Learns until the equivalence checks find no counterexample. A budget that ends it after
    /// a first hypothesis returns the last one (`stoppedBecause` says why); before, it throws.
    /// Called again (with new `tests`), it goes on from the table it has.
    public func learn() throws -> MealyMachine {
        if suffixes.isEmpty { suffixes = (0..<k).map { [$0] } }
        var last: MealyMachine?
        while true {
            rounds += 1
            do {
                let hypothesis = try closeAndBuild()
                last = hypothesis
                progress(rounds, hypothesis.stateCount, queries)
                guard let ce = try findCounterexample(hypothesis) else { return hypothesis }
                counterexamples.append(names(ce))
                try addSuffix(from: ce, hypothesis)
            } catch let stopped as Stopped {
                guard let last, stopped.reason == .budget else { throw stopped }
                stoppedBecause = stopped.description
                return last
            }
        }
    }

    /// Makes the table closed (every one-step extension's row is an access row), then the hypothesis.
    private func closeAndBuild() throws -> MealyMachine {
        var rows: [[String]] = try access.map(row)
        var i = 0
        while i < access.count {  // access grows as it goes: each new row's extensions are checked too
            let s = access[i]
            for a in 0..<k {
                let r = try row(s + [a])
                if !rows.contains(r) {
                    access.append(s + [a])
                    rows.append(r)
                }
            }
            i += 1
        }
        var transitions: [[MealyMachine.Transition]] = []
        for s in access {
            var line: [MealyMachine.Transition] = []
            for a in 0..<k {
                let output = try outputs(s + [a]).last!
                let next = rows.firstIndex(of: try row(s + [a]))!
                line.append(.init(output: output, next: next))
            }
            transitions.append(line)
        }
        return MealyMachine(inputs: system.alphabet, transitions: transitions)
    }

    /// The access sequence of the state `word` leads to in `h`.
    private func accessOf(_ word: [Int], in h: MealyMachine) -> [Int] {
        var state = 0
        for input in word { state = h.transitions[state][input].next }
        return access[state]
    }

    /// Rivest–Schapire: cut `ce` at the first output that differs, then find where swapping a
    /// prefix for its access sequence changes the last output; the rest is a new suffix.
    private func addSuffix(from counterexample: [Int], _ h: MealyMachine) throws {
        let real = try outputs(counterexample), guess = h.run(counterexample)
        let cut = real.indices.first { real[$0] != guess[$0] }! + 1
        let ce = Array(counterexample.prefix(cut))
        var previous = real[cut - 1]
        for i in 1..<ce.count {
            let last = try outputs(accessOf(Array(ce.prefix(i)), in: h) + ce[i...]).last!
            if last != previous {
                let suffix = Array(ce[i...])
                if !suffixes.contains(suffix) { suffixes.append(suffix) }
                return
            }
            previous = last
        }
        // The last step's access word gives the hypothesis's output by construction, so some
        // swap above changes it; when none does, the system answered the same word two ways.
        throw Stopped(reason: .unusableAnswers, description: "a counterexample the table cannot take in (the system is not deterministic?): \(names(ce))")
    }

    // MARK: - Equivalence

    private func differs(_ word: [Int], _ h: MealyMachine) throws -> Bool { try outputs(word) != h.run(word) }

    /// The W-method to `depth` (every access sequence × every middle word × every suffix), then
    /// seeded random walks.
    private func findCounterexample(_ h: MealyMachine) throws -> [Int]? {
        var middles: [[Int]] = [[]]
        var layer: [[Int]] = [[]]
        for _ in 0..<budget.depth {
            layer = layer.flatMap { w in (0..<k).map { w + [$0] } }
            middles += layer
        }
        for word in tests(h) where !word.isEmpty {
            if try differs(word, h) { return word }
        }
        for s in access {
            for m in middles {
                for e in suffixes where try differs(s + m + e, h) { return s + m + e }
            }
        }
        for _ in 0..<budget.walks {
            let length = 1 + Int(next() % UInt64(max(1, budget.walkLength)))
            let word = (0..<length).map { _ in Int(next() % UInt64(k)) }
            if try differs(word, h) { return word }
        }
        return nil
    }

    /// splitmix64.
    private func next() -> UInt64 {
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
