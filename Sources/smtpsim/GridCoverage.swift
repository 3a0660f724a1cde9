import EndpointHosting
import Foundation
import Scenario
import Simulation

/// The table of a sweep whose seeds walk cells — the fault grid (phase × fault from a side) or
/// the reply table (command × reply): per cell, the seeds run, those that failed and those with
/// findings (and which oracles), as text and JSON.
struct GridCoverage {
    struct Tally {
        var runs = 0
        var failed = 0
        var withFindings = 0
        var oracles: [String] = []
    }

    /// Row and column headings, their JSON keys, and the cell each seed runs.
    let rowName: String, columnName: String
    let rows: [String], columns: [String]
    /// The cells that exist, row-major (a grid need not have every fault at every phase).
    let cells: [(row: Int, column: Int)]
    private(set) var tallies: [[Tally?]]
    /// What a cell (its tally, row and column) shows instead of `runs/with findings`, and the
    /// legend that says so.
    var mark: ((Tally, Int, Int) -> String)?
    var legend = "runs/with findings; ! a run failed its expectations"

    init(rowName: String, columnName: String, rows: [String], columns: [String], cells: [(row: Int, column: Int)],
         verdicts: [UInt64: (passed: Bool, findings: [String])], cellOf: (UInt64) -> (row: Int, column: Int)?) {
        self.rowName = rowName
        self.columnName = columnName
        self.rows = rows
        self.columns = columns
        self.cells = cells
        tallies = Array(repeating: Array(repeating: nil, count: columns.count), count: rows.count)
        for (seed, verdict) in verdicts {
            guard let (r, c) = cellOf(seed) else { continue }
            var t = tallies[r][c] ?? Tally()
            t.runs += 1
            if !verdict.passed { t.failed += 1 }
            if !verdict.findings.isEmpty { t.withFindings += 1 }
            for o in verdict.findings where !t.oracles.contains(o) { t.oracles.append(o) }
            tallies[r][c] = t
        }
    }

    /// The fault grid: rows are phases, columns faults from a side.
    init(grid: FaultGrid, verdicts: [UInt64: (passed: Bool, findings: [String])]) {
        let rowOf = grid.phases
        let cells = grid.cells.map { cell in (rowOf.firstIndex(of: cell.phase)!, grid.columns.firstIndex(of: cell.column)!) }
        self.init(rowName: "phase", columnName: "fault", rows: grid.phases.map(\.rawValue), columns: grid.columns, cells: cells,
                  verdicts: verdicts, cellOf: { seed in
                      guard let cell = grid.cell(seed: seed) else { return nil }
                      return (rowOf.firstIndex(of: cell.phase)!, grid.columns.firstIndex(of: cell.column)!)
                  })
    }

    /// The reply table: rows are commands, columns replies.
    init(replies table: ReplyTable, verdicts: [UInt64: (passed: Bool, findings: [String])]) {
        let cells = table.rows.indices.flatMap { r in table.columns.indices.map { (r, $0) } }
        self.init(rowName: "command", columnName: "reply", rows: table.rows.map(\.description),
                  columns: table.columns.map { BytePreview.text(Array($0.utf8), limit: 40) }, cells: cells,
                  verdicts: verdicts, cellOf: table.cell(seed:))
    }

    /// The smuggling pair table: rows are variants, columns relay → server pairs; a cell reads
    /// `SMUGGLED` where a message no client sent reached the server behind the relay.
    init(pairs table: SmugglingPairs, verdicts: [UInt64: (passed: Bool, findings: [String])]) {
        self.init(rowName: "variant", columnName: "pair", rows: table.rows.map { "\($0.name) \($0.escaped)" },
                  columns: table.columns.map { "\($0.0.rawValue) → \($0.1.rawValue)" }, cells: table.cells,
                  verdicts: verdicts, cellOf: table.position(seed:))
        mark = { t, _, _ in t.oracles.contains(Oracle.smuggling.rawValue) ? "SMUGGLED" : "clean" }
        legend = "SMUGGLED: a message no client sent reached the server behind the relay; ! a run failed its expectations"
    }

    /// The security comparison: rows are attacker actions, columns connection securities; a
    /// cell reads `n/a` where the action found no plaintext phase (its run had to report that,
    /// find nothing and deliver), else the oracles that fired, or `clean`.
    init(compare table: SecurityComparison, verdicts: [UInt64: (passed: Bool, findings: [String])]) {
        let cells = table.attacks.indices.flatMap { r in table.securities.indices.map { (r, $0) } }
        self.init(rowName: "attack", columnName: "security", rows: table.attacks.map(\.written.description),
                  columns: table.securities.map(\.rawValue), cells: cells, verdicts: verdicts, cellOf: table.position(seed:))
        mark = { t, r, c in
            SecurityComparison.Cell(attack: table.attacks[r], security: table.securities[c]).notApplicable
                ? "n/a" : (t.oracles.isEmpty ? "clean" : t.oracles.joined(separator: ","))
        }
        legend = "n/a: the attack needs a plaintext phase and the connection has none; else the oracles that fired, or clean; ! a run failed its expectations"
    }

    /// A cell reads `runs/with findings` (and `!` when a run failed its expectations), `·` where
    /// there is no such cell or no seed ran it.
    var text: String {
        let rowWidth = max(rowName.count, rows.map(\.count).max() ?? 0)
        var lines = ["columns (\(legend)):"]
        for (i, column) in columns.enumerated() { lines.append("  c\(i + 1)  \(column)") }
        let heads = columns.indices.map { "c\($0 + 1)" }
        let marks = cells.compactMap { r, c in tallies[r][c].flatMap { t in mark.map { $0(t, r, c) } } }
        let width = max(mark == nil ? 6 : 9, heads.map(\.count).max() ?? 0, (marks.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        lines.append(pad(rowName, rowWidth) + "  " + heads.map { pad($0, width) }.joined(separator: " "))
        var cellsRun = 0
        var cellsWithFindings = 0
        var cellsFailed = 0
        for (r, row) in rows.enumerated() {
            var line = pad(row, rowWidth) + " "
            for c in columns.indices {
                guard let t = tallies[r][c] else {
                    line += " " + pad("·", width)
                    continue
                }
                cellsRun += 1
                if t.withFindings > 0 { cellsWithFindings += 1 }
                if t.failed > 0 { cellsFailed += 1 }
                line += " " + pad((mark.map { $0(t, r, c) } ?? "\(t.runs)/\(t.withFindings)") + (t.failed > 0 ? "!" : ""), width)
            }
            lines.append(line)
        }
        lines.append("\(cellsRun) of \(cells.count) cells run, \(cellsWithFindings) with findings, \(cellsFailed) failing")
        return lines.joined(separator: "\n")
    }

    var json: Data {
        let items: [[String: Any]] = cells.map { r, c in
            let t = tallies[r][c] ?? Tally()
            return [rowName: rows[r], columnName: columns[c], "runs": t.runs, "failed": t.failed, "withFindings": t.withFindings, "oracles": t.oracles]
        }
        let summary: [String: Any] = ["cells": cells.count, "cellsRun": items.filter { ($0["runs"] as? Int ?? 0) > 0 }.count,
                                      "cellsWithFindings": items.filter { ($0["withFindings"] as? Int ?? 0) > 0 }.count, "grid": items]
        return (try? JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
