import Foundation
import Scenario
import XCTest

/// The refactor guard: the trace digest of every library scenario at seeds 1–20 is pinned in
/// `Tests/Fixtures/scenario-digests.txt`. A change that keeps behaviour keeps every digest; a
/// change that means to alter behaviour regenerates the fixture
/// (`SMTPSIM_WRITE_DIGESTS=1 swift test --filter ScenarioDigestFixtureTests`) and says in its
/// commit which digests moved and why. Both trace modes are held to it: a run that keeps its
/// events and one that only streams them into the digest give the same digest.
final class ScenarioDigestFixtureTests: XCTestCase {
    static let fixture = ScenarioLibraryTests.folder.deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/scenario-digests.txt")
    static let seeds: ClosedRange<UInt64> = 1...20

    /// One line per (file, seed): `name seed digest`, sorted by file then seed.
    static func currentLines(trace keeping: TraceKeeping) throws -> [String] {
        var lines: [String] = []
        for file in try ScenarioLibraryTests.files() {
            let scenario = try ScenarioLoader.load(path: file)
            let name = URL(fileURLWithPath: file).lastPathComponent
            for seed in seeds {
                lines.append("\(name) \(seed) \(try ScenarioRunner.run(scenario, seed: seed, trace: keeping).result.digest ?? "none")")
            }
        }
        return lines
    }

    func testEveryLibraryDigestMatchesTheFixture() throws {
        try check(trace: .always)
    }

    /// Streamed only (what `run` does with a passing run): the same digests.
    func testEveryLibraryDigestMatchesTheFixtureWithoutKeptEvents() throws {
        try check(trace: .whenNeeded)
    }

    private func check(trace keeping: TraceKeeping) throws {
        let current = try Self.currentLines(trace: keeping)
        if ProcessInfo.processInfo.environment["SMTPSIM_WRITE_DIGESTS"] == "1" {
            try (current.joined(separator: "\n") + "\n").write(to: Self.fixture, atomically: true, encoding: .utf8)
            return
        }
        let pinned = try String(contentsOf: Self.fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        let pinnedSet = Set(pinned)
        let changed = current.filter { !pinnedSet.contains($0) }
        XCTAssertEqual(current.count, pinned.count, "the library or the seed range changed size: regenerate the fixture")
        XCTAssertTrue(changed.isEmpty, "\(changed.count) digests moved, first: \(changed.prefix(5).joined(separator: "; "))")
    }

    /// A run keeps its events only where asked; a failing run is run again keeping them, so a
    /// failure can always be read, and the digests agree.
    func testEventsAreKeptOnlyWhereAskedAndForFailures() throws {
        let file = ScenarioLibraryTests.folder.appendingPathComponent("capability-tampering-before-tls-is-forgotten.yaml").path
        var scenario = try ScenarioLoader.load(path: file)
        let verdicts = try ScenarioRunner.run(scenario, trace: .forVerdicts)
        XCTAssertTrue(verdicts.passed)
        XCTAssertFalse(verdicts.result.trace.keepsEvents)
        XCTAssertEqual(verdicts.result.trace.events.count, 0)
        XCTAssertNil(verdicts.result.digest, "a sweep's run computes no digest")
        XCTAssertGreaterThan(verdicts.result.trace.count, 10)
        let always = try ScenarioRunner.run(scenario, trace: .always)
        XCTAssertEqual(always.result.trace.events.count, verdicts.result.trace.count)
        let streamed = try ScenarioRunner.run(scenario)
        XCTAssertFalse(streamed.result.trace.keepsEvents, "a passing run keeps no events by default")
        XCTAssertEqual(streamed.result.trace.events.count, 0)
        XCTAssertNotNil(always.result.digest)
        XCTAssertEqual(streamed.result.digest, always.result.digest)

        scenario.expectations.accepted = 99  // cannot be met
        let failing = try ScenarioRunner.run(scenario)
        XCTAssertFalse(failing.passed)
        XCTAssertTrue(failing.result.trace.keepsEvents)
        XCTAssertEqual(failing.result.digest, always.result.digest)
        XCTAssertEqual(failing.failures.count, 1, "only the unmet expectation: \(failing.failures)")
        XCTAssertFalse(try ScenarioRunner.run(scenario, trace: .forVerdicts).result.trace.keepsEvents)
    }

    /// A run that only counts its events (sweeps) makes none of them, nor the text in them: it
    /// must still be the same run (verdict, findings, outcomes, accepted bodies, event count).
    func testCountingOnlyIsTheSameRun() throws {
        for file in try ScenarioLibraryTests.files() {
            let scenario = try ScenarioLoader.load(path: file)
            for seed: UInt64 in 1...3 {
                let counted = try ScenarioRunner.run(scenario, seed: seed, trace: .forVerdicts)
                let kept = try ScenarioRunner.run(scenario, seed: seed, trace: .always)
                let name = "\(URL(fileURLWithPath: file).lastPathComponent) seed \(seed)"
                XCTAssertEqual(counted.passed, kept.passed, name)
                XCTAssertEqual(counted.result.findings, kept.result.findings, name)
                XCTAssertEqual(counted.result.outcomes, kept.result.outcomes, name)
                XCTAssertEqual(counted.result.accepted.map(\.body), kept.result.accepted.map(\.body), name)
                XCTAssertEqual(counted.result.trace.count, kept.result.trace.events.count, name)
            }
        }
    }
}
