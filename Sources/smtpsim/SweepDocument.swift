import Foundation
import Scenario

/// One sweep's result as a document (`sweep --format json`): every seed's verdict, the failing
/// seeds and the shrunk reproducer of the first; a shard writes one, `smtpsim merge` combines
/// them into the document (and the report) the unsharded sweep gives. No wall-clock figure is in
/// it, so the merged document of shards 1/n … n/n equals the unsharded one byte for byte.
struct SweepDocument: Codable, Equatable {
    struct Verdict: Codable, Equatable {
        var seed: UInt64
        var passed: Bool
        /// The oracles that fired, in the order they first fired.
        var oracles: [String]
    }

    struct Reproducer: Codable, Equatable {
        var seed: UInt64
        /// The minimal scenario file, as written to the --out folder.
        var yaml: String
        var attempts: Int
        var faults: Int
        var attackerActions: Int
        var failures: [String]
    }

    var file: String
    var scenario: String
    /// The whole seed range the sweep covers (every shard names the same one).
    var seedsFrom: UInt64
    var seedsTo: UInt64
    /// `i/n` for a shard's document, nil for a whole sweep (or a merge that has every shard).
    var shard: String?
    var results: [Verdict]
    /// The TLS profile every run used when it was not the file's (`sweep --tls`); nil otherwise.
    var tls: String?
    var passed: Int { results.filter(\.passed).count }
    var failingSeeds: [UInt64] { results.filter { !$0.passed }.map(\.seed) }
    var reproducer: Reproducer?

    enum CodingKeys: String, CodingKey { case file, scenario, seedsFrom, seedsTo, shard, results, reproducer, summary, tls }

    struct Summary: Codable, Equatable {
        var seeds: Int
        var passed: Int
        var failed: Int
        var failingSeeds: [UInt64]
    }

    init(file: String, scenario: String, seeds: ClosedRange<UInt64>, shard: String?, results: [Verdict], reproducer: Reproducer?, tls: String? = nil) {
        self.file = file
        self.tls = tls
        self.scenario = scenario
        seedsFrom = seeds.lowerBound
        seedsTo = seeds.upperBound
        self.shard = shard
        self.results = results.sorted { $0.seed < $1.seed }
        self.reproducer = reproducer
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        file = try c.decode(String.self, forKey: .file)
        scenario = try c.decode(String.self, forKey: .scenario)
        seedsFrom = try c.decode(UInt64.self, forKey: .seedsFrom)
        seedsTo = try c.decode(UInt64.self, forKey: .seedsTo)
        shard = try c.decodeIfPresent(String.self, forKey: .shard)
        results = try c.decode([Verdict].self, forKey: .results)
        reproducer = try c.decodeIfPresent(Reproducer.self, forKey: .reproducer)
        tls = try c.decodeIfPresent(String.self, forKey: .tls)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(scenario, forKey: .scenario)
        try c.encode(seedsFrom, forKey: .seedsFrom)
        try c.encode(seedsTo, forKey: .seedsTo)
        try c.encodeIfPresent(shard, forKey: .shard)
        try c.encode(results, forKey: .results)
        try c.encodeIfPresent(reproducer, forKey: .reproducer)
        try c.encodeIfPresent(tls, forKey: .tls)
        try c.encode(Summary(seeds: results.count, passed: passed, failed: results.count - passed, failingSeeds: failingSeeds), forKey: .summary)
    }

    var json: String {
        get throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        }
    }

    /// The verdicts as the coverage table reads them.
    var verdicts: [UInt64: (passed: Bool, findings: [String])] {
        var out: [UInt64: (passed: Bool, findings: [String])] = [:]
        for r in results { out[r.seed] = (r.passed, r.oracles) }
        return out
    }

    /// Shard documents of one sweep into its whole document: the same file, scenario and range,
    /// no seed twice; the reproducer of the first failing seed (the shard that had it shrank it).
    static func merge(_ shards: [SweepDocument]) throws -> SweepDocument {
        guard let first = shards.first else { throw MergeError("no documents to merge") }
        for d in shards where d.file != first.file || d.scenario != first.scenario || d.seedsFrom != first.seedsFrom || d.seedsTo != first.seedsTo || d.tls != first.tls {
            throw MergeError("\(d.shard ?? "a document") is a sweep of \(d.file) \(d.seedsFrom)..\(d.seedsTo)\(d.tls.map { " in \($0)" } ?? ""), not of \(first.file) \(first.seedsFrom)..\(first.seedsTo)\(first.tls.map { " in \($0)" } ?? "")")
        }
        var seen = Set<UInt64>()
        var results: [Verdict] = []
        for d in shards {
            for r in d.results {
                guard seen.insert(r.seed).inserted else { throw MergeError("seed \(r.seed) is in two documents") }
                results.append(r)
            }
        }
        let firstFailing = results.filter { !$0.passed }.map(\.seed).min()
        let reproducer = shards.compactMap(\.reproducer).first { $0.seed == firstFailing }
        let complete = UInt64(results.count) == first.seedsTo - first.seedsFrom + 1
        return SweepDocument(file: first.file, scenario: first.scenario, seeds: first.seedsFrom...first.seedsTo,
                             shard: complete ? nil : "merged \(shards.count) of a sweep, \(results.count) seeds", results: results, reproducer: reproducer,
                             tls: first.tls)
    }

    struct MergeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The report a sweep prints after its progress line: the coverage table (a grid or a reply
    /// table), the totals and the failing seeds, the reproducer. `timing` is the sweep's own
    /// figure (a merge has none).
    func text(table: GridCoverage?, timing: String?) -> String {
        var lines: [String] = []
        if let table { lines.append(table.text) }
        let failing = failingSeeds
        lines.append("\(scenario): \(results.count) seeds\(timing.map { " in \($0)" } ?? ""): \(passed) passed, \(failing.count) failed")
        if let first = failing.first {
            lines.append("failing seeds: \(failing.prefix(20).map(String.init).joined(separator: ", "))\(failing.count > 20 ? ", …" : "")")
            lines.append("replay: smtpsim replay \(file) --seed \(first)\(tls.map { " --tls \($0)" } ?? "")")
        }
        return lines.joined(separator: "\n")
    }
}
