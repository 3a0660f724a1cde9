import Foundation
import Scenario
import SMTPLearning

/// `smtpsim learn --html`: the learned machine as a page of the HTML report — Graphviz's drawing
/// (inline SVG, when `dot` is installed), every transition as a table, the nondeterminism seen,
/// the shortest differences from the reference and each exported scenario's run as a ladder.
struct LearnedPage {
    var system: String
    var document: Learn.Document
    var reference: String
    var differences: [LearnedDifference]
    var exported: [(LearnedDifference, String, ScenarioReport)]
    /// `dot -Tsvg`'s drawing, or nil without Graphviz (the table stands alone).
    var svg: String?

    var html: String {
        let esc = HTMLReport.esc
        let m = document.machine
        var out = HTMLReport.head("smtpsim learn: \(system)")
        out += "<p>\(m.stateCount) states, \(m.inputs.count) inputs; \(document.queries) queries (\(document.cacheHits) from the cache), "
            + "\(document.rounds) round(s), \(String(format: "%.2f", document.seconds)) s, \(Int(document.queriesPerSecond)) queries/s.</p>\n"
        if let why = document.incomplete { out += "<p class=\"fail\">incomplete: \(esc(why)); this is the last hypothesis</p>\n" }
        for n in document.nondeterminism {
            out += "<p class=\"fail\">nondeterministic: <code>\(esc(n.word.joined(separator: " ")))</code> answered \(esc(n.first.joined(separator: " "))) and \(esc(n.second.joined(separator: " ")))</p>\n"
        }
        if let svg, let start = svg.range(of: "<svg") { out += "<div class=\"machine\">" + svg[start.lowerBound...] + "</div>\n" }
        if !reference.isEmpty {
            out += "<h2>Differences from \(esc(reference))</h2>\n"
            if differences.isEmpty { out += "<p class=\"pass\">none: the same machine</p>\n" }
            out += "<table class=\"summary\"><tr><th>inputs</th><th>here</th><th>there</th><th>scenario</th></tr>\n"
            for d in differences {
                let file = exported.first { $0.0.word == d.word }
                let link = file.map { e in "<code>\(esc(e.1))</code> <span class=\"\(e.2.passed ? "pass" : "fail")\">\(e.2.passed ? "reproduced" : "not reproduced")</span>" } ?? ""
                out += "<tr><td><code>\(esc(d.words))</code></td><td>\(esc(d.here.last ?? ""))</td><td>\(esc(d.there.last ?? ""))</td><td>\(link)</td></tr>\n"
            }
            out += "</table>\n"
        }
        out += "<h2>Transitions</h2>\n<table class=\"summary\"><tr><th>state</th><th>input</th><th>output</th><th>next</th></tr>\n"
        for (state, row) in m.transitions.enumerated() {
            for (input, t) in row.enumerated() where !(t.next == state && t.output == "closed") {
                out += "<tr><td>s\(state)</td><td>\(esc(m.inputs[input]))</td><td><code>\(esc(t.output))</code></td><td>s\(t.next)</td></tr>\n"
            }
        }
        out += "</table>\n"
        for (i, e) in exported.enumerated() { out += HTMLReport.section(e.2, anchor: "d\(i + 1)") }
        return out + "</body></html>\n"
    }
}
