import EndpointHosting
import Simulation

/// A self-contained HTML report: a summary table and, per scenario, a ladder diagram with client,
/// attacker and server columns; each write as an arrow with its bytes and, in the reader's
/// column, what the other side read (after faults and the attacker); the TLS part shaded; faults,
/// attacker actions and findings marked. No scripts, no external files.
public enum HTMLReport {
    /// Rows per ladder before the rest is summarised (keeps reports of long runs small).
    public static let maximumRows = 600

    public static func render(_ reports: [ScenarioReport], errors: [ScenarioError] = [], title: String = "smtpsim report") -> String {
        var html = head(title) + """
            <table class="summary"><tr><th>scenario</th><th>seed</th><th>verdict</th><th>messages</th><th>findings</th></tr>

            """
        for (i, r) in reports.enumerated() {
            // Each message's status, and its recipients' where they differ (RFC 5321 §4.2.5).
            let messages = r.result.outcomes.map { o in
                o.status.rawValue + (o.recipientLines.isEmpty ? "" : " (" + o.recipients.map { "\($0.recipient) \($0.statusName)" }.joined(separator: ", ") + ")")
            }.joined(separator: ", ")
            let findings = r.result.findings.isEmpty ? "none" : Array(Set(r.result.findings.map(\.label))).sorted().joined(separator: ", ")
            html += "<tr><td><a href=\"#s\(i)\">\(esc(r.scenario.name))</a><br><code>\(esc(r.scenario.file))</code></td><td>\(r.seed)</td>"
            html += "<td class=\"\(r.passed ? "pass" : "fail")\">\(r.passed ? "PASS" : "FAIL")</td><td>\(esc(messages))</td><td>\(esc(findings))</td></tr>\n"
        }
        for e in errors { html += "<tr><td><code>\(esc(e.file))</code></td><td></td><td class=\"fail\">ERROR</td><td colspan=\"2\">\(esc(e.description))</td></tr>\n" }
        html += "</table>\n"
        for (i, r) in reports.enumerated() { html += section(r, anchor: "s\(i)") }
        return html + "</body></html>\n"
    }

    /// The page's head, its style and its title: the report's, and the learned machine's page
    /// (`smtpsim learn --html`) opens with it too, then adds its sections and `</body></html>`.
    public static func head(_ title: String) -> String {
        """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; }
            h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
            table.summary { border-collapse: collapse; } .summary td, .summary th { border-bottom: 1px solid #dde; padding: 4px 10px; text-align: left; }
            .pass { color: #17803d; font-weight: 600; } .fail { color: #c0262d; font-weight: 600; }
            .failures { color: #c0262d; } code, .bytes { font-family: ui-monospace, monospace; font-size: 12px; }
            table.ladder { border-collapse: collapse; width: 100%; table-layout: fixed; margin-top: 8px; }
            .ladder th { background: #eef1f7; padding: 6px; } .ladder td { padding: 2px 6px; vertical-align: middle; }
            .ladder td.time { width: 80px; color: #667; font-family: ui-monospace, monospace; font-size: 12px; }
            .ladder tr.tls td.lane { background: #e7f5ec; }
            .ladder th.client, .ladder th.attacker, .ladder th.server { width: 30%; }
            .arrow { position: relative; border-bottom: 2px solid #3b5bdb; margin: 10px 4px 6px; }
            .arrow.left { border-color: #a4508b; }
            .arrow.right::after, .arrow.left::before { content: ""; position: absolute; top: -5px; border: 6px solid transparent; }
            .arrow.right::after { right: -2px; border-left: 9px solid #3b5bdb; border-right: 0; }
            .arrow.left::before { left: -2px; border-right: 9px solid #a4508b; border-left: 0; }
            .arrow span { position: absolute; top: -17px; left: 12px; right: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
            .arrow.left span { text-align: right; }
            .event { font-size: 12px; padding: 3px 8px; border-radius: 4px; }
            .fault { background: #fff3bf; } .attack { background: #ffe3e3; } .finding { background: #c0262d; color: white; font-weight: 600; }
            .read { background: #f1f3f5; font-family: ui-monospace, monospace; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
            .note { color: #556; } .tlsmark { background: #d3f9d8; } .outcome { background: #e7f5ff; }
            </style></head><body>
            <h1>\(esc(title))</h1>

            """
    }

    /// One scenario's run: its verdict, failures and ladder diagram.
    public static func section(_ r: ScenarioReport, anchor: String) -> String {
        var html = "<h2 id=\"\(anchor)\">\(esc(r.scenario.name)) <span class=\"\(r.passed ? "pass" : "fail")\">\(r.passed ? "PASS" : "FAIL")</span></h2>\n"
        if !r.scenario.description.isEmpty { html += "<p>\(esc(r.scenario.description))</p>\n" }
        html += "<p><code>\(esc(r.replayLine))</code> · trace sha256 <code>\((r.result.digest ?? "not computed").prefix(16))…</code></p>\n"
        if !r.failures.isEmpty {
            html += "<ul class=\"failures\">" + r.failures.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n"
        }
        html += "<table class=\"ladder\"><tr><th class=\"time\">time</th><th class=\"client\">client</th><th class=\"attacker\">on-path</th><th class=\"server\">server</th></tr>\n"
        var rows = 0
        var skipped = 0
        for e in r.result.trace.events {
            guard let row = self.row(e) else { continue }
            if rows >= maximumRows {
                skipped += 1
                continue
            }
            rows += 1
            html += row
        }
        if skipped > 0 { html += "<tr><td></td><td colspan=\"3\" class=\"note\">… \(skipped) more events (see <code>smtpsim replay</code>)</td></tr>\n" }
        return html + "</table>\n"
    }

    static func row(_ e: TraceEvent) -> String? {
        let time = "<td class=\"time\">\(esc(TraceEvent.formatTime(e.time)))\(e.connection > 0 ? " #\(e.connection)" : "")</td>"
        func span(_ cls: String, _ text: String) -> String { "<tr>\(time)<td colspan=\"3\"><div class=\"event \(cls)\">\(esc(text))</div></td></tr>\n" }
        switch e.kind {
        case .plaintext(let d, let epoch, let bytes):
            return arrow(time, d, tls: epoch == 1, label: (epoch == 1 ? "[TLS] " : epoch == 2 ? "[clear after TLS] " : "") + preview(bytes))
        case .received(let d, let epoch, let bytes):
            let cell = "<td class=\"lane\"><div class=\"event read\">read: \(esc(preview(bytes)))</div></td>"
            let lanes = d == .clientToServer ? "<td class=\"lane\"></td><td class=\"lane\"></td>\(cell)" : "\(cell)<td class=\"lane\"></td><td class=\"lane\"></td>"
            return "<tr\(epoch == 1 ? " class=\"tls\"" : "")>\(time)\(lanes)</tr>\n"
        case .connect(let client, let attempt):
            return span("note", "client \(client) connects (connection \(attempt))")
        case .tls(let side, let ok, let detail):
            return span(ok ? "tlsmark" : "attack", "\(side): TLS \(ok ? "established" : "failed") — \(detail)")
        case .fault(let name, let detail):
            return span("fault", "⚠ fault \(name): \(detail)")
        case .attack(let name, let detail):
            return "<tr>\(time)<td></td><td class=\"lane\"><div class=\"event attack\">⚡ \(esc(name)): \(esc(detail))</div></td><td></td></tr>\n"
        case .finding(let f):
            return span("finding", "✖ \(f.label): \(f.explanation) [\(f.reference)]")
        case .outcome(let message, let status, let detail):
            return span("outcome", "\(message): \(status) — \(detail)")
        case .closed(let side, let detail):
            return span("note", "\(side) closed: \(detail)")
        case .sent, .delivered, .note:
            return nil
        }
    }

    static func arrow(_ time: String, _ d: Direction, tls: Bool, label: String) -> String {
        let cls = tls ? " class=\"tls\"" : ""
        let dir = d == .clientToServer ? "right" : "left"
        return "<tr\(cls)>\(time)<td class=\"lane\" colspan=\"3\"><div class=\"arrow \(dir)\"><span class=\"bytes\">\(esc(label))</span></div></td></tr>\n"
    }

    static func preview(_ bytes: [UInt8]) -> String {
        TraceEvent.preview(bytes, 0, limit: 160) + "  (\(bytes.count) B)"
    }

    public static func esc(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
