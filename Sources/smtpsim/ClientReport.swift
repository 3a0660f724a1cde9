import Foundation
import SMTPNet
import Scenario

/// `probe --client --format html` and `smtpsim matrix --client`: a client probe's results as a
/// page with the evidence (findings, the bytes by layer, the client's output), and several probes'
/// results as one client × check matrix.
enum ClientReport {
    static let style = """
        <style>body{font:14px system-ui;margin:2em;max-width:80em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top;text-align:left}\
        .pass{background:#dfd}.fail{background:#fbb}.warn{background:#ffd9a8}.inconclusive{background:#eee}.na{color:#888}\
        pre{white-space:pre-wrap;font-size:12px;margin:.2em 0}details{margin:.2em 0}code{font-size:12px}.sent{color:#036}.received{color:#630}</style>
        """

    static func css(_ verdict: Probe.Verdict) -> String { verdict == .notApplicable ? "na" : verdict.rawValue }

    /// One probe: totals, then a row per check whose details show the evidence.
    static func html(_ doc: ProbeCommand.ClientDocument) -> String {
        let esc = HTMLReport.esc
        let counts = Dictionary(grouping: doc.results, by: \.verdict).mapValues(\.count)
        var out = ["<!doctype html><meta charset=utf-8><title>smtpsim probe --client</title>", style,
                   "<h1>smtpsim probe --client</h1>",
                   "<p>Policy <b>\(doc.policy.rawValue)</b>; command <code>\(esc(doc.command.joined(separator: " ")))</code></p>",
                   "<p>\(doc.results.count) checks: " + [Probe.Verdict.pass, .fail, .warn, .notApplicable, .inconclusive].map { "<span class=\(css($0))>\(counts[$0] ?? 0) \($0.rawValue)</span>" }.joined(separator: ", ") + "</p>",
                   "<table><tr><th>case</th><th>check</th><th>verdict</th><th>exit</th><th>what happened</th></tr>"]
        for r in doc.results {
            var cell = esc(r.detail)
            if !r.findings.isEmpty || !r.bytes.isEmpty || !r.output.isEmpty {
                cell += "<details><summary>evidence: \(r.findings.count) finding(s), \(r.connections) connection(s), \(r.bytes.count) exchange(s)</summary>"
                cell += r.findings.map { "<p>\(esc($0))</p>" }.joined()
                cell += r.bytes.map { "<pre class=\($0.direction.rawValue)>\($0.direction == .sent ? "S:" : "C:") [\(esc($0.layer))] \(esc($0.text))</pre>" }.joined()
                if !r.output.isEmpty { cell += "<p>the client's output (its end):</p><pre>\(esc(r.output))</pre>" }
                cell += "</details>"
            }
            let exit = r.exitStatus.map(String.init) ?? (r.verdict == .notApplicable ? "" : "stopped")
            out.append("<tr><td>\(esc(r.id))</td><td>\(esc(r.check))</td><td class=\(css(r.verdict))>\(r.verdict.rawValue)</td><td>\(exit)\(r.exitTruthful == false ? " (untrue)" : "")</td><td>\(cell)</td></tr>")
        }
        out.append("</table>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Several probes (NAME, document): rows are clients with their policy, columns the checks.
    struct Matrix: Encodable {
        struct Row: Encodable {
            var client: String
            var policy: String
            var verdicts: [String: String]
        }
        var checks: [String]
        var rows: [Row]

        init(_ documents: [(String, ProbeCommand.ClientDocument)]) {
            var checks: [String] = []
            for (_, d) in documents { for r in d.results where !checks.contains(r.check) { checks.append(r.check) } }
            self.checks = checks
            rows = documents.map { name, d in Row(client: name, policy: d.policy.rawValue, verdicts: Dictionary(d.results.map { ($0.check, $0.verdict.rawValue) }, uniquingKeysWith: { a, _ in a })) }
        }

        var anyFailure: Bool { rows.contains { $0.verdicts.values.contains(Probe.Verdict.fail.rawValue) } }

        var text: String {
            let width = max(24, (rows.map { $0.client.count + $0.policy.count + 3 }.max() ?? 0))
            var lines = [String(repeating: " ", count: width) + " " + checks.enumerated().map { k, _ in String(k + 1).padding(toLength: 5, withPad: " ", startingAt: 0) }.joined()]
            for row in rows {
                let label = "\(row.client) (\(row.policy))".padding(toLength: width, withPad: " ", startingAt: 0)
                let short = ["pass": "ok", "fail": "FAIL", "warn": "warn", "n/a": "n/a", "inconclusive": "?"]
                lines.append(label + " " + checks.map { (short[row.verdicts[$0] ?? ""] ?? "-").padding(toLength: 5, withPad: " ", startingAt: 0) }.joined())
            }
            lines += checks.enumerated().map { k, c in "\(k + 1): \(c)" }
            return lines.joined(separator: "\n")
        }

        var html: String {
            let esc = HTMLReport.esc
            var out = ["<!doctype html><meta charset=utf-8><title>smtpsim client matrix</title>", style, "<h1>Mail clients × checks</h1>",
                       "<p>Each row is a client in one configuration (<code>smtpsim probe --client --policy …</code>); each column a check of docs/catalog.md.</p>",
                       "<table><tr><th>client (policy)</th>" + checks.map { "<th>\(esc($0))</th>" }.joined() + "</tr>"]
            for row in rows {
                out.append("<tr><th>\(esc(row.client)) (\(row.policy))</th>" + checks.map { c in
                    let v = Probe.Verdict(rawValue: row.verdicts[c] ?? "") ?? .inconclusive
                    return row.verdicts[c] == nil ? "<td>—</td>" : "<td class=\(css(v))>\(v.rawValue)</td>"
                }.joined() + "</tr>")
            }
            out.append("</table>")
            return out.joined(separator: "\n") + "\n"
        }
    }
}
