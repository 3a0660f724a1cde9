/// A deterministic Mealy machine over named inputs: state × input → output, next state. What the
/// learner infers of a server (outputs are reply classes) and what `--diff` compares.
public struct MealyMachine: Codable, Sendable, Equatable {
    public struct Transition: Codable, Sendable, Equatable {
        public var output: String
        public var next: Int
    }

    /// Input names, in alphabet order.
    public var inputs: [String]
    /// `transitions[state][input]`; state 0 is the initial state.
    public var transitions: [[Transition]]

    public init(inputs: [String], transitions: [[Transition]]) {
        self.inputs = inputs
        self.transitions = transitions
    }

    public var stateCount: Int { transitions.count }

    /// The outputs of `word` (input indices) from the initial state.
    public func run(_ word: [Int]) -> [String] {
        var state = 0
        var out: [String] = []
        out.reserveCapacity(word.count)
        for input in word {
            let t = transitions[state][input]
            out.append(t.output)
            state = t.next
        }
        return out
    }

    /// The shortest input word that gives different outputs on `self` and `other` (same input
    /// names, in the same order), breadth first over the product; nil when they agree on every word.
    public func shortestDifference(from other: MealyMachine) -> [Int]? { differences(from: other, limit: 1).first }

    /// The shortest words on which `self` and `other` first disagree, one for each pair of states
    /// and input where they do (breadth first, so shortest first), at most `limit`.
    public func differences(from other: MealyMachine, limit: Int = 10) -> [[Int]] {
        guard inputs == other.inputs else { return [[]] }
        var seen: Set<[Int]> = [[0, 0]]
        var queue: [([Int], [Int])] = [([0, 0], [])]
        var head = 0
        var found: [[Int]] = []
        while head < queue.count, found.count < limit {
            let (pair, word) = queue[head]
            head += 1
            for input in inputs.indices where found.count < limit {
                let a = transitions[pair[0]][input], b = other.transitions[pair[1]][input]
                if a.output != b.output {
                    found.append(word + [input])
                    continue  // past a difference the two are not compared
                }
                let next = [a.next, b.next]
                if seen.insert(next).inserted { queue.append((next, word + [input])) }
            }
        }
        return found
    }

    /// Graphviz: one edge per (state, target) with every `input / output` on it.
    public func dot(name: String = "smtp") -> String {
        var lines = ["digraph \"\(name)\" {", "  rankdir=LR;", "  node [shape=circle, fontname=\"Helvetica\"];", "  edge [fontname=\"Helvetica\", fontsize=10];",
                     "  start [shape=point]; start -> s0;"]
        for (state, row) in transitions.enumerated() {
            var labels: [Int: [String]] = [:]  // target → labels; emitted in target order below
            for (input, t) in row.enumerated() { labels[t.next, default: []].append("\(inputs[input]) / \(t.output)") }
            for target in labels.keys.sorted() {
                let label = labels[target]!.joined(separator: "\\n").split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\\\"")
                lines.append("  s\(state) -> s\(target) [label=\"\(label)\"];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
