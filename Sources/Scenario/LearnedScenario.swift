import EndpointHosting
import Foundation
import Simulation
import SMTPLearning
import SMTPServer

/// `smtpsim learn --export`: a difference between a learned machine and its reference as a
/// scenario file (docs/design.md "Learning"): a client script that asks the word and expects the
/// learned machine's answers, against smtpsim's server with the learned one's flaws (in memory)
/// or the compliant one (a real server's machine: the file is for `smtpsim run --against`).
public enum LearnedScenario {
    /// The file's text and its run in the simulator. The findings are pinned from a first run,
    /// by side (but liveness); the second run is the one reported (and passes unless the simulator's server
    /// answers otherwise than the machine says).
    public static func make(
        _ d: LearnedDifference, file: String, system: String, reference: String, serverFlaws: [ServerFlaw], against: String?
    ) throws -> (text: String, report: ScenarioReport) {
        let users = Written.Entry("auth", .map([.init("users", .map([.init(LearningInput.username, .word(LearningInput.password))]))]))
        let server = [users] + (serverFlaws.isEmpty ? [] : [.init("flaws", .list(serverFlaws.map { .word($0.rawValue) }))])
        let elsewhere = against.map { "; in the simulator smtpsim's compliant server answers as the reference instead; on the server: smtpsim run \(file) --against \($0)" } ?? ""
        let description = """
            Learned by smtpsim learn from \(system). To the inputs \(d.words) it answers \(d.here.joined(separator: " / ")); \
            \(reference) answers \(d.there.joined(separator: " / ")). The script asks the same inputs and expects the learned \
            answers (docs/design.md "Learning")\(elsewhere).
            """
        func text(_ findings: [Finding]?) throws -> String {
            try ScenarioWriter.scripted(name: d.summary, description: description, tls: "cheap", server: server, steps: d.steps,
                                        findings: findings, traceContains: d.traceContains, traceLacks: d.traceLacks)
        }
        let first = try ScenarioRunner.run(try ScenarioLoader.parse(try text(nil), file: file))
        // Liveness is never pinned: it fires when the script waits for a reply that never comes,
        // which is the server answering otherwise than learned.
        let pinned = try text(first.result.findings.filter { $0.oracle != .liveness })
        return (pinned, try ScenarioRunner.run(try ScenarioLoader.parse(pinned, file: file), trace: .always))
    }
}
