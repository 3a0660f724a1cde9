import EndpointHosting
import Foundation
import Scenario

/// The phase × fault table of a grid sweep: per cell, the seeds run and those with findings
/// (and which oracles), as text and JSON.
struct GridCoverage {
    struct Tally {
        var runs = 0
        var failed = 0
        var withFindings = 0
        var oracles: [String] = []
    }

    let grid: FaultGrid
    private(set) var tallies: [FaultGrid.Cell: Tally] = [:]  // lookups only; printed in grid order

    init(grid: FaultGrid, verdicts: [UInt64: (passed: Bool, findings: [String])]) {
        self.grid = grid
        for (seed, verdict) in verdicts {
            guard let cell = grid.cell(seed: seed) else { continue }
            var t = tallies[cell] ?? Tally()
            t.runs += 1
            if !verdict.passed { t.failed += 1 }
            if !verdict.findings.isEmpty { t.withFindings += 1 }
            for o in verdict.findings where !t.oracles.contains(o) { t.oracles.append(o) }
            tallies[cell] = t
        }
    }

    private func tally(_ phase: ProtocolPhase, _ column: String) -> Tally? {
        grid.cells.first { $0.phase == phase && $0.column == column }.flatMap { tallies[$0] }
    }

    /// Rows are phases, columns are faults from a side; a cell reads `runs/with findings`, `·`
    /// where the grid has no such cell or no seed ran it.
    var text: String {
        let rowWidth = max(5, grid.phases.map(\.rawValue.count).max() ?? 0)
        var lines = ["columns (runs/with findings):"]
        for (i, column) in grid.columns.enumerated() { lines.append("  c\(i + 1)  \(column)") }
        let heads = grid.columns.indices.map { "c\($0 + 1)" }
        let width = max(5, heads.map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        lines.append(pad("phase", rowWidth) + "  " + heads.map { pad($0, width) }.joined(separator: " "))
        var cellsRun = 0
        var cellsWithFindings = 0
        for phase in grid.phases {
            var row = pad(phase.rawValue, rowWidth) + " "
            for column in grid.columns {
                guard let t = tally(phase, column) else {
                    row += " " + pad("·", width)
                    continue
                }
                cellsRun += 1
                if t.withFindings > 0 { cellsWithFindings += 1 }
                row += " " + pad("\(t.runs)/\(t.withFindings)", width)
            }
            lines.append(row)
        }
        lines.append("\(cellsRun) of \(grid.cells.count) cells run, \(cellsWithFindings) with findings")
        return lines.joined(separator: "\n")
    }

    var json: Data {
        let cells: [[String: Any]] = grid.cells.compactMap { cell in
            let t = tallies[cell] ?? Tally()
            return ["phase": cell.phase.rawValue, "fault": cell.fault, "from": cell.side?.rawValue ?? NSNull(), "runs": t.runs,
                    "failed": t.failed, "withFindings": t.withFindings, "oracles": t.oracles]
        }
        let summary: [String: Any] = ["cells": grid.cells.count, "cellsRun": cells.filter { ($0["runs"] as? Int ?? 0) > 0 }.count,
                                      "cellsWithFindings": cells.filter { ($0["withFindings"] as? Int ?? 0) > 0 }.count, "grid": cells]
        return (try? JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
