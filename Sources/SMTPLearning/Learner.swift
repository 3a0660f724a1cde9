/// What the learner queries: a word of inputs (indices into `alphabet`) on a fresh connection,
/// answered by one output per input. Implementations: `InMemoryServer` (smtpsim's server through
/// the endpoint host), a socket edge for real servers.
public protocol SystemUnderLearning: AnyObject {
    var alphabet: [String] { get }
    func query(_ word: [Int]) throws -> [String]
    /// How many queries it answers at once (a socket server: connections in parallel). Above 1
    /// the learner asks in batches what it is about to need (some words it then never uses:
    /// more queries, far less waiting); the table and the checks judge the same answers.
    var concurrentQueries: Int { get }
    /// The answers to `words`, in order.
    func query(batch words: [[Int]]) throws -> [[String]]
}

extension SystemUnderLearning {
    public var concurrentQueries: Int { 1 }
    public func query(batch words: [[Int]]) throws -> [[String]] { try words.map(query) }
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
        public enum Reason: Sendable { case budget, unusableAnswers, nondeterministic }
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
    /// Distinct rows (states) the observation table holds so far: what a stop before the first
    /// hypothesis can say of the machine.
    public var statesSoFar: Int { access.count }
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

    /// Asks the system, in one batch, the words of `words` the cache cannot answer (a word that
    /// is a prefix of another is answered by it), where the system answers several at once and
    /// each word is asked once; otherwise nothing (each is asked when needed).
    func prefetch(_ words: [[Int]]) throws {
        guard system.concurrentQueries > 1, budget.repeats <= 1 else { return }
        var wanted: [[Int]] = []
        var seen = Set<[Int]>()
        for w in words.sorted(by: { $0.count > $1.count }) where cached(w) == nil {
            guard seen.insert(w).inserted else { continue }
            if wanted.contains(where: { $0.count > w.count && Array($0.prefix(w.count)) == w }) { continue }
            wanted.append(w)
        }
        var start = 0
        while start < wanted.count {
            let room = budget.queries - queries
            guard room > 0 else { throw Stopped(reason: .budget, description: "the query budget (\(budget.queries)) is spent") }
            if shouldStop() { throw Stopped(reason: .budget, description: "the time budget is spent") }
            let chunk = Array(wanted[start..<min(wanted.count, start + min(room, Self.batchLimit))])
            let answers = try system.query(batch: chunk)
            queries += chunk.count
            for (w, a) in zip(chunk, answers) {
                guard a.count == w.count else { throw Stopped(reason: .unusableAnswers, description: "the system answered \(a.count) outputs to \(w.count) inputs") }
                insert(w, a)
            }
            start += chunk.count
        }
    }

    /// Words per batch (so a time budget is looked at between batches).
    static let batchLimit = 256

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
                guard let last, stopped.reason == .budget || stopped.reason == .nondeterministic else { throw stopped }
                stoppedBecause = stopped.description
                return last
            }
        }
    }

    /// How often the table is closed again when a row read for a transition is no access row:
    /// the system answered a word differently from before (nondeterminism, reported), and the
    /// cache now holds the later answer.
    static let reclosings = 8

    /// Makes the table closed (every one-step extension's row is an access row), then the
    /// hypothesis. A system that answers one word two ways (a busy Postfix) changes a row between
    /// the closing and the building: the table is closed again on the answers it now holds, a few
    /// times, and then learning stops with the last hypothesis, the words reported, never a trap.
    private func closeAndBuild() throws -> MealyMachine {
        for _ in 0..<Self.reclosings {
            if let machine = try closeAndBuildOnce() { return machine }
        }
        let words = nondeterminism.suffix(3).map { "\($0.word.joined(separator: " ")): \($0.first.joined(separator: " ")) then \($0.second.joined(separator: " "))" }
        throw Stopped(reason: .nondeterministic, description: "the system answered the same words differently (\(words.joined(separator: "; "))): the table could not be closed")
    }

    /// One closing and building; nil when a row changed under it (see `closeAndBuild`).
    private func closeAndBuildOnce() throws -> MealyMachine? {
        try prefetch(access.flatMap { s in suffixes.map { s + $0 } })
        var rows: [[String]] = try access.map(row)
        var i = 0
        while i < access.count {  // access grows as it goes: each new row's extensions are checked too
            let s = access[i]
            try prefetch((0..<k).flatMap { a in suffixes.map { s + [a] + $0 } })
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
                guard let output = try outputs(s + [a]).last, let next = rows.firstIndex(of: try row(s + [a])) else { return nil }
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
        try prefetch((1..<max(1, ce.count)).map { accessOf(Array(ce.prefix($0)), in: h) + ce[$0...] })
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
        throw Stopped(reason: .nondeterministic, description: "a counterexample the table cannot take in (the system answered a word two ways): \(names(ce))")
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
        let tests = self.tests(h).filter { !$0.isEmpty }
        try prefetch(tests)
        for word in tests where try differs(word, h) { return word }
        for s in access {
            try prefetch(middles.flatMap { m in suffixes.map { s + m + $0 } })
            for m in middles {
                for e in suffixes where try differs(s + m + e, h) { return s + m + e }
            }
        }
        // A system that answers many at once is asked the walks a batch at a time (drawn before
        // they are asked); one at a time, each walk is drawn when the last one agreed.
        let batch = system.concurrentQueries > 1 ? Self.walkBatch : 1
        var drawn = 0
        while drawn < budget.walks {
            var chunk: [[Int]] = []
            while chunk.count < batch, drawn < budget.walks {
                let length = 1 + Int(next() % UInt64(max(1, budget.walkLength)))
                chunk.append((0..<length).map { _ in Int(next() % UInt64(k)) })
                drawn += 1
            }
            try prefetch(chunk)
            for word in chunk where try differs(word, h) { return word }
        }
        return nil
    }

    /// Walks asked per batch: more would be wasted past a counterexample.
    static let walkBatch = 32

    /// splitmix64.
    private func next() -> UInt64 {
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
