import SMTPServer
import XCTest

@testable import SMTPLearning

/// Issue 19: learning smtpsim's own server through the endpoint host.
final class LearnerTests: XCTestCase {
    func learn(_ flaws: Set<ServerFlaw> = [], seed: UInt64 = 1, budget: Learner.Budget = Learner.Budget(),
               inputs: [LearningInput] = LearningInput.allCases) throws -> (MealyMachine, Learner) {
        var configuration = InMemoryServer.reference
        configuration.flaws = flaws
        let learner = Learner(system: try InMemoryServer(configuration: configuration, inputs: inputs), budget: budget, seed: seed)
        return (try learner.learn(), learner)
    }

    /// A cheaper equivalence check for the flaw profiles (the table alone finds each flaw).
    static var quick: Learner.Budget {
        var b = Learner.Budget()
        b.depth = 0
        b.walks = 20
        return b
    }

    /// The inputs each flaw needs to show (the flaw test learns with these: a third of the
    /// queries of the whole alphabet).
    static let flawInputs: [LearningInput] = [.ehlo, .mail, .rcpt, .data, .bodyBareLF, .noop, .starttls, .handshake, .starttlsPipelined, .closeNotify, .alert]

    /// The compliant server's machine is small and stable (another walk seed and budget learn
    /// the same machine), and learning is deterministic (the same queries, the same machine).
    func testTheCompliantServersMachineIsSmallDeterministicAndStable() throws {
        let (a, learner) = try learn()
        XCTAssertEqual(try learn(seed: 7, budget: Self.quick).0, a, "another seed and budget learn the same machine")
        let (x, first) = try learn(inputs: Self.flawInputs)
        let (y, second) = try learn(inputs: Self.flawInputs)
        XCTAssertEqual(x, y)
        XCTAssertEqual(first.queries, second.queries)
        XCTAssertEqual(first.counterexamples, second.counterexamples)
        XCTAssertLessThanOrEqual(a.stateCount, 16, a.dot())  // 16 with every input (2026-12)
        XCTAssertGreaterThanOrEqual(a.stateCount, 8, a.dot())
        XCTAssertTrue(learner.nondeterminism.isEmpty)
        let i = { (name: String) in a.inputs.firstIndex(of: name)! }
        // EHLO, STARTTLS, the handshake, EHLO, MAIL, RCPT, DATA, the body: delivered inside TLS;
        // STARTTLS offered only before TLS, AUTH only inside it.
        XCTAssertEqual(a.run([i("EHLO"), i("STARTTLS"), i("HANDSHAKE"), i("EHLO"), i("MAIL"), i("RCPT"), i("DATA"), i("BODY")]),
                       ["250(STARTTLS)", "220", "tls", "250(AUTH)", "250", "250", "354", "250"])
        // Plaintext behind STARTTLS is not executed (CVE-2011-0411); after close_notify the
        // connection is over (CVE-2026-45185).
        XCTAssertEqual(a.run([i("EHLO"), i("STARTTLS+NOOP"), i("HANDSHAKE")]), ["250(STARTTLS)", "220", "tls"])
        XCTAssertEqual(a.run([i("EHLO"), i("STARTTLS"), i("HANDSHAKE"), i("CLOSE_NOTIFY"), i("NOOP")]), ["250(STARTTLS)", "220", "tls", "closed", "closed"])
    }

    /// Each server flaw profile yields a machine that differs from the compliant one at the
    /// flaw: the shortest distinguishing word goes through the input that shows it.
    func testEveryFlawProfileChangesTheMachineAtTheFlaw() throws {
        let (reference, _) = try learn(budget: Self.quick, inputs: Self.flawInputs)
        let cases: [(ServerFlaw, base: MealyMachine, through: String)] = [
            (.keepsPlaintextAcrossStartTLS, reference, "STARTTLS+NOOP"),
            (.acceptsBareLFEndOfData, reference, "BODY-LF"),
            (.advertisesStartTLSAfterTLS, reference, "HANDSHAKE"),
            (.offersAuthPlainBeforeTLS, reference, "EHLO"),
            (.readsPlaintextAfterCloseNotify, reference, "CLOSE_NOTIFY"),
            (.ignoresFatalAlerts, reference, "ALERT"),
        ]
        XCTAssertEqual(Set(cases.map(\.0) + [.keepsAuthAcrossStartTLS]), Set(ServerFlaw.allCases), "every flaw profile")
        for (flaw, base, through) in cases {
            let (flawed, _) = try learn([flaw], budget: Self.quick, inputs: Self.flawInputs)
            guard let word = flawed.shortestDifference(from: base) else {
                XCTFail("\(flaw): the same machine as its base")
                continue
            }
            let names = word.map { base.inputs[$0] }
            XCTAssertTrue(names.contains(through), "\(flaw): \(names) \(base.run(word)) → \(flawed.run(word))")
        }
    }

    /// Session fixation shows only where AUTH is offered before TLS, and only after EHLO and AUTH
    /// inside TLS: two states the hypothesis cannot see without a W-method of depth 2, which an
    /// alphabet of the five inputs that matter makes cheap (`learn --inputs`).
    func testSessionFixationShowsWithTheInputsThatMatterAtDepthTwo() throws {
        var budget = Learner.Budget()
        budget.depth = 2
        let inputs: [LearningInput] = [.ehlo, .auth, .starttls, .handshake, .mail]
        let (base, _) = try learn([.offersAuthPlainBeforeTLS], budget: budget, inputs: inputs)
        let (flawed, _) = try learn([.offersAuthPlainBeforeTLS, .keepsAuthAcrossStartTLS], budget: budget, inputs: inputs)
        let word = try XCTUnwrap(flawed.shortestDifference(from: base))
        XCTAssertEqual(word.map { base.inputs[$0] }, ["EHLO", "AUTH", "STARTTLS", "HANDSHAKE", "EHLO", "AUTH"])
        XCTAssertEqual(base.run(word).last, "235")
        XCTAssertEqual(flawed.run(word).last, "503", "the identity from before TLS is still in force")
    }

    /// A budget that runs out during the equivalence checks returns the last hypothesis, marked
    /// incomplete; one that runs out before any hypothesis is an error.
    func testABudgetEndsLearningWithTheLastHypothesisMarked() throws {
        let inputs: [LearningInput] = [.ehlo, .starttls, .handshake, .noop]
        let (full, learner) = try learn(inputs: inputs)
        XCTAssertNil(learner.stoppedBecause)
        var budget = Learner.Budget()
        budget.queries = learner.queries - 1
        let (cut, stopped) = try learn(budget: budget, inputs: inputs)
        XCTAssertEqual(cut, full)
        XCTAssertEqual(stopped.stoppedBecause, "the query budget (\(learner.queries - 1)) is spent")
        budget.queries = 3
        XCTAssertThrowsError(try learn(budget: budget, inputs: inputs))
    }

    /// A system that answers a word differently after a while, as a busy Postfix did (issue 27:
    /// `learn` trapped in closeAndBuild, exit 132, nothing written). Nondeterminism is reported,
    /// with the word and both answers, and learning never traps: it goes on from the later
    /// answers or stops with what it has.
    final class Flaky: SystemUnderLearning {
        let alphabet = ["a", "b"]
        var asked = 0
        let flipAfter: Int
        /// Asked in batches, as a socket server is (`learn --parallel`): a longer word answered
        /// later rewrites what the cache held for its prefix.
        let concurrentQueries: Int
        init(flipAfter: Int, batch: Int = 1) {
            self.flipAfter = flipAfter
            concurrentQueries = batch
        }
        func query(_ word: [Int]) throws -> [String] {
            asked += 1
            // A two-state machine: "a" toggles, "b" says where it is; three queries after
            // `flipAfter` the second state answers a last "b" with "busy" (a server under load).
            var state = 0
            return word.enumerated().map { i, x in
                if x == 0 { state ^= 1; return "ok" }
                if state == 1, (flipAfter..<flipAfter + 3).contains(asked), i >= word.count - 2 { return "busy" }
                // And a prefix answered otherwise when more follows it (a reply that comes late
                // once the server is busy): the cache learns a second answer for the prefix.
                if state == 1, flipAfter % 3 == 0, word.count >= 4, i == word.count - 2 { return "late" }
                return "s\(state)"
            }
        }
    }

    func testANondeterministicSystemIsReportedNeverATrap() throws {
        var reported = 0
        defer { XCTAssertGreaterThan(reported, 0, "some flip was seen twice and reported") }
        for flip in [0, 3, 6, 9, 12, 15, 18, 21] { for batch in [1, 8] {
            var budget = Learner.Budget()
            budget.repeats = flip % 2 + 1
            budget.walks = 20
            budget.queries = 5_000
            let learner = Learner(system: Flaky(flipAfter: flip, batch: batch), budget: budget, seed: 3)
            do {
                let machine = try learner.learn()
                XCTAssertGreaterThanOrEqual(machine.stateCount, 1)
            } catch let stopped as Learner.Stopped {
                XCTAssertEqual("\(stopped.reason)", "nondeterministic", "\(flip): \(stopped)")
            }
            if let n = learner.nondeterminism.first { XCTAssertNotEqual(n.first, n.second, "the two answers are reported") }
            reported += learner.nondeterminism.count
        } }
    }
}

