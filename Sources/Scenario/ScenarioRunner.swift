import EndpointHosting
import Foundation
import SMTPClient
import SMTPServer
import SMTPCore
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

/// Whether a run keeps its trace's events (the digest is the same either way: docs/design.md).
public enum TraceKeeping: Sendable {
    /// When the expectations read what was written or read, or when the run fails: a failing
    /// run runs again keeping its events, and the two digests must agree. Otherwise the digest only.
    case whenNeeded
    /// Always (`--trace`, `replay`, HTML, pcap).
    case always
    /// Only when the expectations read them, and no digest otherwise (sweeps and the shrinker,
    /// which read verdicts only).
    case forVerdicts
}

/// Runs scenarios: file + seed → simulation → report.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario, seed: UInt64? = nil, trace keeping: TraceKeeping = .whenNeeded) throws -> ScenarioReport {
        let seed = seed ?? scenario.seed
        let e = scenario.expectations(seed: seed)
        let read = !(e.repliesSeen.isEmpty && e.repliesWritten.isEmpty && e.commandsSeen.isEmpty && e.traceContains.isEmpty && e.traceLacks.isEmpty)
        let detail: TraceDetail = keeping == .always || read ? .events : keeping == .whenNeeded ? .digest : .count
        let report = try run(scenario, seed: seed, trace: detail)
        guard keeping == .whenNeeded, !report.passed, !report.result.trace.keepsEvents else { return report }
        var kept = try run(scenario, seed: seed, trace: .events)
        if kept.result.digest != report.result.digest {
            kept.failures.append("determinism: the run that kept its trace has digest \(kept.result.digest ?? ""), the one that did not \(report.result.digest ?? "")")
        }
        return kept
    }

    private static func run(_ scenario: Scenario, seed: UInt64, trace detail: TraceDetail) throws -> ScenarioReport {
        let configuration = scenario.configuration(seed: seed)
        let server: ServerProgram? = scenario.serverScript.map { ScriptedServerProgram(steps: $0) }
        var clients: [ClientProgram]?
        if scenario.clientScripts.contains(where: { $0 != nil }) {
            clients = zip(configuration.clients.indices, scenario.clientScripts).map { index, script in
                let spec = configuration.clients[index]
                if let script {
                    return SingleConnectionProgram(endpoint: ScriptedEndpoint(role: .client, steps: script), intendedMessages: spec.messages, policy: spec.configuration.policy)
                }
                return BuiltInClientProgram(configuration: configuration.seededClientConfiguration(index), messages: spec.messages)
            }
        }
        let result = try World(configuration: configuration, serverProgram: server, clientPrograms: clients, trace: detail).run()
        return ScenarioReport(scenario: scenario, seed: seed, result: result, failures: check(scenario.expectations(seed: seed), result))
    }

    /// Every expectation the result breaks, in words.
    public static func check(_ e: Expectations, _ r: RunResult) -> [String] {
        var failures: [String] = []
        if let expected = e.messages {
            let got = r.outcomes.map(\.status)
            if got.count != expected.count || !zip(expected, r.outcomes).allSatisfy({ $0.matches($1.status, possibleDuplicate: $1.possibleDuplicate) }) {
                failures.append("messages: expected \(expected.map(\.rawValue)), got \(got.map(\.rawValue))"
                                + (r.outcomes.isEmpty ? "" : " (\(r.outcomes.map { "\($0.messageID): \($0.reason)" }.joined(separator: "; ")))"))
            }
        }
        for want in e.recipients {
            // Every message sent to the address must have that outcome for it.
            let got = r.outcomes.flatMap { o in o.recipients.filter { $0.recipient.description.caseInsensitiveCompare("<\(want.address)>") == .orderedSame || $0.recipient.description.caseInsensitiveCompare(want.address) == .orderedSame }.map { (o.messageID, $0) } }
            if got.isEmpty {
                failures.append("recipients.\(want.address): no message was sent to it")
            } else if let (id, wrong) = got.first(where: { !want.status.matches($0.1.status, possibleDuplicate: $0.1.possibleDuplicate) }) {
                failures.append("recipients.\(want.address): expected \(want.status.rawValue), got \(wrong.possibleDuplicate ? "possible-duplicate" : wrong.status.rawValue) for \(id)\(wrong.reply.map { " (\($0))" } ?? "")")
            }
        }
        if let n = e.accepted, r.accepted.count != n {
            failures.append("accepted: expected the server to accept \(n) message(s), it accepted \(r.accepted.count)")
        }
        if let n = e.relayed, r.relayed.count != n {
            failures.append("relayed: expected the relay to accept \(n) message(s), it accepted \(r.relayed.count)")
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
        for (key, wanted, stream, direction, whose) in [
            ("replies-seen", e.repliesSeen, r.trace.received(_:on:), Direction.serverToClient, "reply line the client read"),
            ("replies-seen.written", e.repliesWritten, r.trace.written(_:on:), .serverToClient, "reply line the server wrote"),
            ("commands-seen", e.commandsSeen, r.trace.received(_:on:), .clientToServer, "command line the server read"),
        ] where !wanted.isEmpty {
            let lines = r.trace.connectionIDs.flatMap { Self.lines(stream(direction, $0)) }
            for text in wanted where !lines.contains(where: { $0.uppercased().hasPrefix(text.uppercased()) }) {
                failures.append("\(key): no \(whose) starts with '\(text)'")
            }
        }
        if let t = e.tlsResult {
            let got = r.outcomes.first { $0.tlsResultType != nil }?.tlsResultType
            if got != t { failures.append("tls-result: expected \(t.rawValue), got \(got?.rawValue ?? "none")") }
        }
        // An attacker action with no plaintext phase to work on did nothing: the file says so, or
        // the run fails (it must never pass silently).
        let notApplicable = Set(r.attacksNotApplicable)
        for name in r.attacksNotApplicable where !e.notApplicable.contains(name) {
            failures.append("attacker \(name): not applicable (the connection was TLS from its first octet, RFC 8314 §3); expect it with not-applicable: [\(name)]")
        }
        for name in e.notApplicable where !notApplicable.contains(name) {
            failures.append("not-applicable: expected attacker \(name) to find no plaintext phase, but it had one")
        }
        if let tls = e.overTLS, !r.accepted.isEmpty, r.accepted.contains(where: { $0.overTLS != tls }) {
            failures.append("over-tls: expected every accepted message \(tls ? "inside" : "outside") TLS")
        }
        func names(_ oracles: [Oracle]) -> [String] { Array(Set(oracles.map(\.rawValue))).sorted() }
        let fired = Array(Set(r.findings.map(\.oracle))).sorted { $0.rawValue < $1.rawValue }
        switch e.findings {
        case .bySide(let client, let server, let run):
            for (side, wanted) in [(Side?.some(.client), client), (.some(.server), server), (nil, run)] {
                let got = names(r.findings.filter { $0.side == side }.map(\.oracle))
                if got != names(wanted) {
                    failures.append("findings.\(side?.rawValue ?? "run"): expected \(names(wanted)), got \(got.isEmpty ? "none" : got.joined(separator: ", "))")
                }
            }
        case .none where !r.findings.isEmpty:
            failures += r.findings.map { "finding \($0.label): \($0.explanation) [\($0.reference)]" }
        case .exactly(let wanted):
            let want = Array(Set(wanted)).sorted { $0.rawValue < $1.rawValue }
            if want != fired {
                failures.append("findings: expected \(want.map(\.rawValue)), got \(fired.isEmpty ? "none" : fired.map(\.rawValue).joined(separator: ", "))")
            }
        case .within(let allowed):
            let extra = fired.filter { !allowed.contains($0) }
            if !extra.isEmpty {
                failures.append("findings: only \(names(allowed)) may fire, got \(extra.map(\.rawValue).joined(separator: ", "))")
                failures += r.findings.filter { extra.contains($0.oracle) }.prefix(4).map { "finding \($0.label): \($0.explanation) [\($0.reference)]" }
            }
        case .none, .any:
            break
        }
        for needle in e.traceContains where !Self.trace(r.trace, contains: needle) { failures.append("trace-contains: '\(needle)' is not in the trace") }
        for needle in e.traceLacks where Self.trace(r.trace, contains: needle) { failures.append("trace-lacks: '\(needle)' is in the trace") }
        return failures
    }

    /// A trace line holds `needle` in its text form with every octet shown (`\r\n` written out), or
    /// the octets of a write or a read hold it as they are: long writes match whole.
    static func trace(_ trace: Trace, contains needle: String) -> Bool {
        let octets = Array(needle.utf8)
        return trace.events.contains { e in
            switch e.kind {
            case .sent(_, _, let bytes), .delivered(_, _, let bytes), .plaintext(_, _, let bytes), .received(_, _, let bytes):
                if Octets.contains(bytes, octets) { return true }
            case .connect, .fault, .attack, .tls, .closed, .note, .outcome, .finding:
                break
            }
            return e.fullText.contains(needle)
        }
    }

    /// The CRLF-ended lines of a stream (a last line without CRLF too).
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
    }
}
