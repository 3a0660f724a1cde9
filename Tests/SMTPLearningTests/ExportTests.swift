import EndpointHosting
import Scenario
import Simulation
import SMTPServer
import XCTest

@testable import SMTPLearning

/// Issue 19: each difference from the compliant server, written as a scenario file with a
/// scripted client, reproduces the flaw in the simulator (and its finding, where an oracle sees
/// it), and fails, at the distinguishing input, against the compliant server.
final class ExportTests: XCTestCase {
    func compare(_ flaws: [ServerFlaw], inputs: [LearningInput]) throws -> [LearnedDifference] {
        var configuration = InMemoryServer.reference
        configuration.flaws = Set(flaws)
        let learner = Learner(system: try InMemoryServer(configuration: configuration, inputs: inputs), budget: LearnerTests.quick)
        let reference = Learner(system: try InMemoryServer(inputs: inputs), budget: LearnerTests.quick)
        return try Comparison.learn(learner, against: .learner(reference)).differences
    }

    func testEachFlawsExportedScenarioReproducesItAndFailsAgainstTheCompliantServer() throws {
        // An oracle sees the flaw on the shortest word itself for the plaintext kept across
        // STARTTLS; after close_notify the shortest word ends where the server stays open (no
        // cleartext is sent yet for the teardown oracle to judge), and the rest are answers only.
        let findings: [ServerFlaw: Oracle] = [.keepsPlaintextAcrossStartTLS: .tlsBoundary]
        for flaw in ServerFlaw.allCases where flaw != .keepsAuthAcrossStartTLS {
            let differences = try compare([flaw], inputs: LearnerTests.flawInputs)
            XCTAssertFalse(differences.isEmpty, "\(flaw)")
            for d in differences.prefix(flaw == .readsPlaintextAfterCloseNotify || flaw == .ignoresFatalAlerts ? 12 : 3) {
                let (text, report) = try LearnedScenario.make(d, file: "difference.yaml", system: "test", reference: "compliant", serverFlaws: [flaw], against: nil)
                XCTAssertTrue(report.passed, "\(flaw): \(d.summary) does not reproduce: \(report.failures)\n\(text)")
                if let oracle = findings[flaw] {
                    XCTAssertTrue(report.result.findings.contains { $0.oracle == oracle }, "\(flaw): \(d.summary): \(report.result.findings)")
                }
                // The same script against the compliant server misses the learned answer.
                let compliant = text.replacingOccurrences(of: "  flaws:\n  - \(flaw.rawValue)\n", with: "")
                XCTAssertNotEqual(compliant, text)
                let run = try ScenarioRunner.run(try ScenarioLoader.parse(compliant, file: "compliant.yaml"), trace: .always)
                XCTAssertTrue(run.failures.contains { $0.contains("script: expected") || $0.contains("script: TLS failed") } || !run.passed, "\(flaw): \(d.summary)")
                XCTAssertTrue(run.result.trace.text.contains("script: expected"), "\(flaw): \(d.summary): the compliant server answers as learned\n\(run.result.trace.text)")
                // …and fails only for that: no oracle charges the compliant server, nor the script
                // with anything it was not charged with against the flawed server (a script's own
                // close_notify, the server's answering one and the cleartext the script sends after
                // it were once read as the script going back to the clear).
                XCTAssertEqual(run.result.findings.filter { $0.side != .client }.map(\.description), [], "\(flaw): \(d.summary)")
                let scriptCharged = Set(report.result.findings.filter { $0.side == .client }.map(\.label))
                XCTAssertEqual(run.result.findings.filter { $0.side == .client && !scriptCharged.contains($0.label) }.map(\.description), [], "\(flaw): \(d.summary)")
            }
        }
    }

    /// Every difference reported is one both systems answered: the learned machines agree with
    /// their systems on each distinguishing word (the hypotheses were checked on them).
    func testReportedDifferencesAreTheSystemsAnswers() throws {
        let inputs: [LearningInput] = [.ehlo, .helo, .mail, .rset, .auth, .starttls, .handshake]
        var configuration = InMemoryServer.reference
        configuration.flaws = [.offersAuthPlainBeforeTLS]
        let flawed = try InMemoryServer(configuration: configuration, inputs: inputs)
        let compliant = try InMemoryServer(inputs: inputs)
        let differences = try Comparison.learn(Learner(system: flawed, budget: LearnerTests.quick), against: .learner(Learner(system: compliant, budget: LearnerTests.quick))).differences
        XCTAssertFalse(differences.isEmpty)
        for d in differences {
            let word = d.word.map { inputs.firstIndex(of: $0)! }
            XCTAssertEqual(try flawed.query(word), d.here, d.summary)
            XCTAssertEqual(try compliant.query(word), d.there, d.summary)
        }
    }

    /// The script steps a learned word becomes.
    func testALearnedWordBecomesTheScriptThatAsksIt() {
        let steps = LearnedScript.steps([.ehlo, .starttlsPipelined, .handshake, .closeNotify, .noop], outputs: ["250(STARTTLS)", "220", "tls+250", "", "clear:250"])
        XCTAssertEqual(steps, [
            .expect("220"), .send("EHLO learner.smtpsim.test\r\n"), .expectReply(code: "250", advertises: ["STARTTLS"], withholds: ["AUTH"]),
            .send("STARTTLS\r\nNOOP\r\n"), .expect("220"), .startTLS, .expect("250"), .closeNotify, .send("NOOP\r\n"), .expect("250"), .close,
        ])
        XCTAssertEqual(LearnedScript.steps([.quit, .noop], outputs: ["221+closed", "closed"]), [.expect("220"), .send("QUIT\r\n"), .expect("221"), .expectClose])
        XCTAssertEqual(LearnedScript.steps([.data], outputs: ["timeout"]), [.expect("220"), .send("DATA\r\n"), .expectNothing(LearnedScript.silence), .close])
    }
}
