import Foundation
import SMTPHarness
import Simulation
import XCTest

/// Replays every file under Corpus/<Target>/ through the target's entry function (the same one
/// libFuzzer calls). Adding a crash file adds a regression test with no other step. Each file is
/// named on stderr before it runs, so a crash that kills the process is attributable.
final class CorpusReplayTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus")

    func testEveryCorpusFileReplaysWithoutCrashing() throws {
        var total = 0
        for (name, entry) in Harness.targets {
            let folder = Self.corpus.appendingPathComponent(name).path
            let files = ReplayDriver.files(folder)
            XCTAssertFalse(files.isEmpty, "Corpus/\(name) has no seeds")
            for file in files {
                FileHandle.standardError.write(Data("replaying \(file)\n".utf8))
                entry([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
                total += 1
            }
        }
        XCTAssertGreaterThan(total, 50)
    }

    /// The StartTLSBoundary seeds named `teardown-*` put TLS session events in the simulation,
    /// and each event strikes (so the fuzzer starts from inputs that reach docs/catalog.md I).
    func testTheTeardownSeedsReachTheTLSSessionEvents() throws {
        let folder = Self.corpus.appendingPathComponent("StartTLSBoundary").path
        let seeds = ReplayDriver.files(folder).filter { ($0 as NSString).lastPathComponent.hasPrefix("teardown-") }
        XCTAssertEqual(seeds.count, 3)
        for file in seeds {
            let (config, result) = try XCTUnwrap(Harness.startTLSBoundaryRun([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), trace: .events))
            XCTAssertFalse(config.faults.isEmpty, file)
            for rule in config.faults {
                let struck = result.trace.events.contains { if case .fault(let name, _) = $0.kind { name == rule.effect.kind.rawValue } else { false } }
                XCTAssertTrue(struck, "\(file): \(rule) struck")
            }
            XCTAssertEqual(result.findings, [], file)
        }
    }

    /// Package.swift's fuzz list, the harness's list, the folders of Fuzz/ and of Corpus/ name
    /// the same targets, and each target's source is Fuzz/<Name>/<Name>.swift.
    func testEveryListOfFuzzTargetsAgrees() throws {
        let root = Self.corpus.deletingLastPathComponent()
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        // The names in the two lists: `let parserFuzzTargets = [...]`, `let fuzzTargets = parserFuzzTargets + [...]`.
        let start = try XCTUnwrap(manifest.range(of: "let parserFuzzTargets = [")).upperBound
        let end = try XCTUnwrap(manifest.range(of: "\n", range: try XCTUnwrap(manifest.range(of: "let fuzzTargets = parserFuzzTargets + [", range: start..<manifest.endIndex)).upperBound..<manifest.endIndex)).lowerBound
        let declared = manifest[start..<end].split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        let harness = Harness.targets.map(\.name) + [Harness.canary.name]
        func folders(_ name: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(at: root.appendingPathComponent(name), includingPropertiesForKeys: [.isDirectoryKey])
                .filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }.map(\.lastPathComponent)
        }
        XCTAssertEqual(declared.sorted(), harness.sorted(), "Package.swift against Harness.targets")
        XCTAssertEqual(try folders("Fuzz").sorted(), harness.sorted(), "Fuzz/ against Harness.targets")
        XCTAssertEqual(try folders("Corpus").sorted(), harness.sorted(), "Corpus/ against Harness.targets")
        for name in harness {
            XCTAssertNotNil(Harness.entry(named: name), name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("Fuzz/\(name)/\(name).swift").path), name)
        }
    }
}
