import ArgumentParser
import Foundation
import Scenario

/// `smtpsim merge`: shard results of one sweep (`sweep --shard i/n --format json`) into the
/// report the unsharded sweep prints.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine the JSON results of a sweep's shards into the report of the whole sweep.",
        discussion: Help.reflow("""
            Each FILE is what `smtpsim sweep SCENARIO --shard i/n --format json` printed (on any
            machine: a CI matrix job, a Kubernetes Indexed Job). The merge checks that they are
            shards of one sweep (the same scenario and seed range, no seed twice), then prints the
            totals, the failing seeds, the coverage table of a grid or reply-table sweep (when the
            scenario file is at its path) and the shrunk reproducer of the first failing seed, or
            with --format json the document an unsharded `sweep --format json` prints. Exit
            status: 0 every seed passed, 1 a seed failed, 2 bad input (documents that do not fit
            together, or seeds missing from the range).
            """)
    )

    @Argument(help: "Shard documents (JSON).") var files: [String]
    @Option(help: "Output: text (the report) or json (the merged document).") var format: Sweep.Format = .text
    @Flag(help: "Merge even when some seeds of the range are missing (a shard that did not finish).") var allowPartial = false

    func run() throws {
        var documents: [SweepDocument] = []
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            do {
                documents.append(try JSONDecoder().decode(SweepDocument.self, from: data))
            } catch {
                throw ValidationError("\(path) is not a sweep document: \(error)")
            }
        }
        let merged: SweepDocument
        do {
            merged = try SweepDocument.merge(documents)
        } catch {
            FileHandle.standardError.write(Data("smtpsim merge: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        let expected = Int(merged.seedsTo - merged.seedsFrom + 1)
        if merged.results.count != expected, !allowPartial {
            FileHandle.standardError.write(Data("smtpsim merge: \(merged.results.count) of the \(expected) seeds of \(merged.seedsFrom)..\(merged.seedsTo) are in these documents (a shard missing? --allow-partial merges them anyway)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        if format == .json {
            print(try merged.json)
        } else {
            let scenario = try? ScenarioLoader.load(path: merged.file)
            print(merged.text(table: scenario.flatMap { Sweep.table($0, merged.verdicts) }, timing: nil))
            if let r = merged.reproducer {
                print(r.yaml.isEmpty ? "" : "reproducer (shrunk from seed \(r.seed) in \(r.attempts) runs):\n" + r.yaml)
            }
        }
        if !merged.failingSeeds.isEmpty { throw ExitCode(ExitStatus.finding.rawValue) }
    }
}
