import Foundation
import Scenario
import XCTest

/// The refactor guard: the trace digest of every library scenario at seeds 1–20 is pinned in
/// `Tests/Fixtures/scenario-digests.txt`. A change that keeps behaviour keeps every digest; a
/// change that means to alter behaviour regenerates the fixture
/// (`SMTPSIM_WRITE_DIGESTS=1 swift test --filter ScenarioDigestFixtureTests`) and says in its
/// commit which digests moved and why.
final class ScenarioDigestFixtureTests: XCTestCase {
    static let fixture = ScenarioLibraryTests.folder.deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/scenario-digests.txt")
    static let seeds: ClosedRange<UInt64> = 1...20

    /// One line per (file, seed): `name seed digest`, sorted by file then seed.
    static func currentLines() throws -> [String] {
        var lines: [String] = []
        for file in try ScenarioLibraryTests.files() {
            let scenario = try ScenarioLoader.load(path: file)
            let name = URL(fileURLWithPath: file).lastPathComponent
            for seed in seeds {
                lines.append("\(name) \(seed) \(try ScenarioRunner.run(scenario, seed: seed).result.digest)")
            }
        }
        return lines
    }

    func testEveryLibraryDigestMatchesTheFixture() throws {
        let current = try Self.currentLines()
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
}
