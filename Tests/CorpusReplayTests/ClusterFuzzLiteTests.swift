import Foundation
import SMTPHarness
import XCTest
import Yams

/// The ClusterFuzzLite wiring (Fuzz/README.md): the three workflows parse and run the actions in
/// their modes for Swift with the project's sanitizer, and the build they run produces exactly
/// the harness's targets (through `.clusterfuzzlite/build.sh` → `Fuzz/build.sh`).
final class ClusterFuzzLiteTests: XCTestCase {
    static let root = CorpusReplayTests.corpus.deletingLastPathComponent()

    private func yaml(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
        return try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], path)
    }

    func testTheWorkflowsParseAndRunTheActionsInTheirModes() throws {
        let project = try yaml(".clusterfuzzlite/project.yaml")
        XCTAssertEqual(project["language"] as? String, "swift")
        let sanitizers = try XCTUnwrap(project["sanitizers"] as? [String])
        for (file, mode) in [("cflite_pr.yml", "code-change"), ("cflite_batch.yml", "batch"), ("cflite_cron.yml", "prune")] {
            let workflow = try yaml(".github/workflows/" + file)
            let jobs = try XCTUnwrap(workflow["jobs"] as? [String: Any], file)
            let steps = jobs.values.compactMap { ($0 as? [String: Any])?["steps"] as? [[String: Any]] }.flatMap { $0 }
            let build = try XCTUnwrap(steps.first { ($0["uses"] as? String)?.hasPrefix("google/clusterfuzzlite/actions/build_fuzzers@") == true }, file)
            let run = try XCTUnwrap(steps.first { ($0["uses"] as? String)?.hasPrefix("google/clusterfuzzlite/actions/run_fuzzers@") == true }, file)
            XCTAssertEqual((build["with"] as? [String: Any])?["language"] as? String, "swift", file)
            let with = try XCTUnwrap(run["with"] as? [String: Any], file)
            XCTAssertEqual(with["mode"] as? String, mode, file)
            XCTAssertNotNil(with["fuzz-seconds"] as? Int, file)
            if let matrix = jobs.values.compactMap({ (($0 as? [String: Any])?["strategy"] as? [String: Any])?["matrix"] as? [String: Any] }).first {
                XCTAssertEqual(Set(try XCTUnwrap(matrix["sanitizer"] as? [String])), Set(sanitizers), file)
            }
        }
    }

    func testTheBuildTheWorkflowsRunNamesEveryTarget() throws {
        let entry = try String(contentsOf: Self.root.appendingPathComponent(".clusterfuzzlite/build.sh"), encoding: .utf8)
        XCTAssertTrue(entry.contains("bash Fuzz/build.sh"), entry)
        // Fuzz/build.sh builds one binary per Fuzz/<Target>/ folder (the list-agreement test ties
        // those folders to the harness); each binary is smtp_<snake case of the target>.
        let script = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/build.sh"), encoding: .utf8)
        XCTAssertTrue(script.contains("Fuzz/*/"), "the target list is read off Fuzz/'s folders")
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Fuzz").path)
            .filter { var dir: ObjCBool = false; return FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("Fuzz/\($0)").path, isDirectory: &dir) && dir.boolValue }
        XCTAssertEqual(Set(folders), Set(Harness.targets.map(\.name) + [Harness.canary.name]))
    }
}
