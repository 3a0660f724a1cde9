import Foundation
import SMTPHarness
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

    func testEveryFuzzTargetHasAnEntryAndAFolder() {
        for (name, _) in Harness.targets {
            XCTAssertNotNil(Harness.entry(named: name))
            XCTAssertTrue(FileManager.default.fileExists(atPath: Self.corpus.appendingPathComponent(name).path), name)
        }
    }
}
