/// A learned machine compared with a reference (`smtpsim learn --diff`, docs/design.md
/// "Learning"): each hypothesis is checked on the words where it differs from the reference
/// before the W-method, so every difference reported is one the system answered; a reference that
/// is itself learned (the compliant in-memory server) is checked on them too, until neither
/// machine moves. A difference is then a fact about both systems, not a guess of either.
public enum Comparison {
    public enum Reference {
        /// A machine learned before (`--diff REF.json`): taken as it is.
        case machine(MealyMachine)
        /// A system learned alongside, refined on the differences.
        case learner(Learner)
    }

    /// Rounds in which the reference and the learned machine check each other's differences
    /// (each round only adds states to one of them).
    public static let rounds = 8

    /// Learns `learner`'s system and the reference; returns both machines and their shortest
    /// differences. A budget that stops the learner stops the refinement (the last hypotheses).
    public static func learn(_ learner: Learner, against reference: Reference, limit: Int = 10) throws
        -> (machine: MealyMachine, reference: MealyMachine, differences: [LearnedDifference])
    {
        var other: MealyMachine
        switch reference {
        case .machine(let m): other = m
        case .learner(let r): other = try r.learn()
        }
        learner.tests = { h in h.differences(from: other, limit: limit) }
        var machine = try learner.learn()
        if case .learner(let r) = reference, learner.stoppedBecause == nil {
            for _ in 0..<rounds {
                r.tests = { h in machine.differences(from: h, limit: limit) }
                let refined = try r.learn()
                guard refined != other else { break }
                other = refined
                machine = try learner.learn()
            }
        }
        return (machine, other, LearnedDifference.all(machine, from: other, limit: limit))
    }
}
