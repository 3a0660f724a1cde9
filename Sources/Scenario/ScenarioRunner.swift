import EndpointHosting
import Foundation
import SMTPClient
import SMTPServer
import Simulation

/// The verdict on one run of one scenario.
public struct ScenarioReport: Sendable {
    public var scenario: Scenario
    public var seed: UInt64
    public var result: RunResult
    /// Expectations the run did not meet, explained.
    public var failures: [String]
    public var passed: Bool { failures.isEmpty }

    /// The command that reruns exactly this run.
    public var replayLine: String { "smtpsim run \(scenario.file) --seed \(seed)" }
}

/// Runs scenarios: file + seed → simulation → report.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, seed: UInt64? = nil) throws -> ScenarioReport {
        let seed = seed ?? scenario.seed
        let configuration = scenario.configuration(seed: seed)
        let server: ServerProgram? = scenario.serverScript.map { ScriptedServerProgram(steps: $0) }
        var clients: [ClientProgram]?
        if scenario.clientScripts.contains(where: { $0 != nil }) {
            clients = zip(configuration.clients, scenario.clientScripts).map { spec, script in
                if let script {
                    return SingleConnectionProgram(endpoint: ScriptedEndpoint(role: .client, steps: script), intendedMessages: spec.messages, policy: spec.configuration.policy)
                }
                return BuiltInClientProgram(configuration: spec.configuration, messages: spec.messages)
            }
        }
        let result = try World(configuration: configuration, serverProgram: server, clientPrograms: clients).run()
        return ScenarioReport(scenario: scenario, seed: seed, result: result, failures: check(scenario.expectations, result))
    }

    /// Every expectation the result breaks, in words.
    public static func check(_ e: Expectations, _ r: RunResult) -> [String] {
        var failures: [String] = []
        if let expected = e.messages {
            let got = r.outcomes.map(\.status)
            if got != expected {
                failures.append("messages: expected \(expected.map(\.rawValue)), got \(got.map(\.rawValue))"
                                + (r.outcomes.isEmpty ? "" : " (\(r.outcomes.map { "\($0.messageID): \($0.reason)" }.joined(separator: "; ")))"))
            }
        }
        if let n = e.accepted, r.accepted.count != n {
            failures.append("accepted: expected the server to accept \(n) message(s), it accepted \(r.accepted.count)")
        }
        if let d = e.duplicates {
            let intended = r.outcomes.count
            let limit = d == .none ? intended : 2 * intended
            if r.accepted.count > limit {
                failures.append("duplicates: \(d.rawValue) allows at most \(limit) accepted message(s) for \(intended), the server accepted \(r.accepted.count)")
            }
        }
        if let bodies = e.acceptedBodies, bodies != r.accepted.map(\.body) {
            failures.append("accepted-bodies: expected \(bodies.map { String(decoding: $0, as: UTF8.self).debugDescription }), got \(r.accepted.map { String(decoding: $0.body, as: UTF8.self).debugDescription })")
        }
        if !e.repliesSeen.isEmpty {
            var replies = ""
            for event in r.trace.events {
                if case .plaintext(.serverToClient, _, let bytes) = event.kind { replies += String(decoding: bytes, as: UTF8.self) }
            }
            let lines = replies.components(separatedBy: "\r\n")
            for code in e.repliesSeen where !lines.contains(where: { $0.hasPrefix(code) }) {
                failures.append("replies-seen: no server reply line starts with '\(code)'")
            }
        }
        if let t = e.tlsResult {
            let got = r.outcomes.first { $0.tlsResultType != nil }?.tlsResultType
            if got != t { failures.append("tls-result: expected \(t.rawValue), got \(got?.rawValue ?? "none")") }
        }
        if let tls = e.overTLS, !r.accepted.isEmpty, r.accepted.contains(where: { $0.overTLS != tls }) {
            failures.append("over-tls: expected every accepted message \(tls ? "inside" : "outside") TLS")
        }
        let fired = Array(Set(r.findings.map(\.oracle))).sorted { $0.rawValue < $1.rawValue }
        switch e.findings {
        case .none where !r.findings.isEmpty:
            failures += r.findings.map { "finding \($0.oracle.rawValue): \($0.explanation) [\($0.reference)]" }
        case .exactly(let wanted):
            let want = Array(Set(wanted)).sorted { $0.rawValue < $1.rawValue }
            if want != fired {
                failures.append("findings: expected \(want.map(\.rawValue)), got \(fired.isEmpty ? "none" : fired.map(\.rawValue).joined(separator: ", "))")
            }
        case .none, .any:
            break
        }
        let text = r.trace.text
        for needle in e.traceContains where !text.contains(needle) { failures.append("trace-contains: '\(needle)' is not in the trace") }
        for needle in e.traceLacks where text.contains(needle) { failures.append("trace-lacks: '\(needle)' is in the trace") }
        return failures
    }
}
