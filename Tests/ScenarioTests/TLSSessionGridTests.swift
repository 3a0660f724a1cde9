import EndpointHosting
import Scenario
import Simulation
import XCTest

/// docs/catalog.md I: the teardown grid. Every TLS session event, from either side, at every SMTP
/// state inside TLS, strikes, and the compliant pair stays clean and delivers on the retry; the
/// flaws the grid exists for are caught in it.
final class TLSSessionGridTests: XCTestCase {
    static let grids = ["tls-session-events-at-every-smtp-state-leave-the-compliant-pair-clean.yaml",
                        "tls12-session-events-at-every-smtp-state-leave-the-compliant-pair-clean.yaml",
                        "implicit-tls-session-events-at-every-smtp-state-leave-the-compliant-pair-clean.yaml"]
    /// Phases per grid: the implicit-TLS grid adds the greeting inside TLS (RFC 8314 §3).
    static let phases = [11, 11, 13]

    func testEveryCellStrikesAndTheCompliantPairStaysClean() throws {
        for (name, phases) in zip(Self.grids, Self.phases) {
            let scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(name).path)
            let grid = try XCTUnwrap(scenario.sweep?.grid, name)
            XCTAssertEqual(grid.cells.count, phases * 14 * 2, name)
            for seed in 1...UInt64(grid.cells.count) {
                let cell = try XCTUnwrap(grid.cell(seed: seed))
                let report = try ScenarioRunner.run(scenario, seed: seed, trace: .always)
                XCTAssertTrue(report.passed, "\(name) seed \(seed) (\(cell.phase.rawValue), \(cell.column)): \(report.failures)")
                let struck = report.result.trace.events.contains {
                    if case .fault(let fault, _) = $0.kind { fault == cell.rule.effect.kind.rawValue } else { false }
                }
                XCTAssertTrue(struck, "\(name) seed \(seed): \(cell.column) never struck at \(cell.phase.rawValue)")
            }
        }
    }

    func testTheDeadLetterFlawIsCaughtInTheGrid() throws {
        for name in [Self.grids[0], Self.grids[2]] { try deadLetterIsCaught(in: name) }
    }

    func deadLetterIsCaught(in name: String) throws {
        var scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(name).path)
        scenario.configuration.server.configuration.flaws = [.readsPlaintextAfterCloseNotify]
        let grid = try XCTUnwrap(scenario.sweep?.grid)
        var caught: Set<ProtocolPhase> = []
        for seed in 1...UInt64(grid.cells.count) {
            let cell = try XCTUnwrap(grid.cell(seed: seed))
            // close_notify from the client, then cleartext: the CVE-2026-45185 pattern.
            guard cell.side == .client, case .tlsCloseNotify(_, let then) = cell.rule.effect, then.plaintext != nil else { continue }
            let findings = try ScenarioRunner.run(scenario, seed: seed).result.findings
            if findings.contains(where: { $0.oracle == .tlsTeardown }) { caught.insert(cell.phase) }
        }
        for phase in [ProtocolPhase.afterMAIL, .afterRCPT, .midBody, .midBDATChunk, .betweenBDATChunks] {
            XCTAssertTrue(caught.contains(phase), "\(name): close_notify then cleartext at \(phase.rawValue) is caught")
        }
    }
}
