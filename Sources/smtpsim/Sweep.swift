import ArgumentParser
import Foundation
import Scenario
import Simulation

/// `smtpsim sweep`: one scenario over many seeds (each seed with its own swarm of faults), in
/// parallel; a failure is shrunk to a minimal scenario file with its replay line.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario over many seeds in parallel; shrink the first failure to a minimal reproducer.",
        discussion: Help.reflow("""
            Seeds come from --seeds or the file's `sweep.seeds`; each seed also picks faults from the
            file's `sweep.swarm`. With a `sweep.grid`, seed k runs cell k of the fault × side × phase
            grid (seeds 1 to the cell count by default) and the sweep prints the phase × fault
            coverage table (runs / runs with findings); --coverage writes it as JSON. A `sweep.replies`
            table works the same way over command × reply. Exit status: 0
            every seed passed, 1 a seed failed, 2 a bad file.
            """)
    )

    @Argument(help: "The scenario file.") var file: String
    @Option(help: "Seeds, A..B (inclusive).") var seeds: String?
    @Option(help: "Parallel jobs: processes (threads with --threads).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Run only shard i of n (i/n, 1-based): seeds A+i-1, A+i-1+n, …") var shard: String?
    @Option(help: "Folder for minimal reproducers.") var out: String = "sweep-failures"
    @Flag(help: "Do not shrink failures.") var noShrink = false
    @Flag(help: "No progress line.") var quiet = false
    @Flag(help: "Run jobs as threads in one process instead of separate processes.") var threads = false
    @Option(help: "With a grid or a reply table: write the coverage table as JSON to this file.") var coverage: String?
    @Option(help: "Output: text (the report) or json (one document: every seed's verdict, the failing seeds, the reproducer; `smtpsim merge` combines shards').")
    var format: Format = .text

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }
    @Option(help: "TLS profile for every run instead of the file's: full, cheap (TLS 1.3 PSK) or cheap-tls12 (the large-sweep profile).") var tls: TLSProfileName?
    @Flag(help: .hidden) var machine = false
    @Option(help: .hidden) var seedList: String?

    func run() throws {
        var loaded: Scenario
        do {
            loaded = try ScenarioLoader.load(path: file)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        if let tls { loaded.configuration.tls = tls.profile }
        let scenario = loaded
        let gridSeeds = scenario.sweep?.cellCount.map { UInt64(1)...UInt64(max(1, $0)) }
        guard let range = seeds.map(ScenarioLoader.parseSeedRange) ?? scenario.sweep?.seeds ?? gridSeeds ?? .some(1...100) else {
            throw ValidationError("--seeds takes A..B")
        }
        var all = Array(range)
        if let shard {
            let parts = shard.split(separator: "/").compactMap { Int($0) }
            guard parts.count == 2, parts[1] >= 1, (1...parts[1]).contains(parts[0]) else { throw ValidationError("--shard takes i/n") }
            all = all.enumerated().filter { $0.offset % parts[1] == parts[0] - 1 }.map(\.element)
        }
        if let list = seedList { all = list.split(separator: ",").compactMap { UInt64($0) } }
        let state = SweepState(seeds: all)
        let clock = ContinuousClock()
        let start = clock.now
        let jobCount = max(1, min(jobs, all.count))
        if machine {
            // A child of a multi-process sweep: one line per seed, read by the parent.
            for seed in all {
                let (passed, oracles) = Self.verdict(scenario, seed)
                FileHandle.standardOutput.write(Data("\(passed ? "pass" : "fail") \(seed) \(oracles.joined(separator: ","))\n".utf8))
            }
            return
        }
        if threads || jobCount == 1 {
            let workers = (0..<jobCount).map { _ in
                Thread {
                    while let seed = state.nextSeed() {
                        let (passed, oracles) = Self.verdict(scenario, seed)
                        state.finish(seed, passed: passed, findings: oracles)
                    }
                }
            }
            for w in workers { w.start() }
        } else {
            // Separate processes scale past OpenSSL's process-wide locks; each runs a shard.
            for k in 1...jobCount {
                let shardSeeds = all.enumerated().filter { $0.offset % jobCount == k - 1 }.map(\.element)
                guard !shardSeeds.isEmpty else { continue }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
                if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
                    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                }
                process.arguments = ["sweep", file, "--seed-list", shardSeeds.map(String.init).joined(separator: ","), "--machine"] + (tls.map { ["--tls", $0.rawValue] } ?? [])
                let pipe = Pipe()
                process.standardOutput = pipe
                try process.run()
                Thread {
                    var reported = Set<UInt64>()
                    pipe.fileHandleForReading.forEachLine { line in
                        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                        if parts.count >= 2, let seed = UInt64(parts[1]) {
                            reported.insert(seed)
                            let oracles = parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : []
                            state.finish(seed, passed: parts[0] == "pass", findings: oracles)
                        }
                    }
                    process.waitUntilExit()
                    // A child that died early: its unreported seeds count as failures (and the
                    // sweep still ends).
                    for seed in shardSeeds where !reported.contains(seed) { state.finish(seed, passed: false) }
                }.start()
            }
        }
        let interactive = isatty(2) != 0
        var lastPrint = clock.now
        while !state.allDone {
            Thread.sleep(forTimeInterval: 0.05)
            if !quiet, clock.now - lastPrint > (interactive ? .milliseconds(250) : .seconds(5)) {
                lastPrint = clock.now
                let line = (interactive ? "\r" : "") + progress(state, elapsed: (clock.now - start).inSeconds) + (interactive ? "" : "\n")
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
        let elapsed = (clock.now - start).inSeconds
        if !quiet { FileHandle.standardError.write(Data(((interactive ? "\r" : "") + progress(state, elapsed: elapsed) + "\n").utf8)) }
        let failing = state.failures.sorted()
        let table = Self.table(scenario, state.verdicts)
        if let table, let coverage { try table.json.write(to: URL(fileURLWithPath: coverage)) }
        var reproducer: SweepDocument.Reproducer?
        var path: String?
        if let first = failing.first, !noShrink {
            let shrunk = try Shrinker.shrink(scenario, seed: first)
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let yaml = try ScenarioWriter.minimal(
                originalText: text, name: "\(scenario.name) (shrunk from seed \(first))", seed: first,
                faults: shrunk.scenario.configuration.faults, attacker: shrunk.scenario.configuration.attacker,
                messagesPerClient: shrunk.scenario.configuration.clients.map(\.messages.count), tls: tls?.rawValue)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let base = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            path = (out as NSString).appendingPathComponent("\(base)-seed-\(first)-minimal.yaml")
            try yaml.write(toFile: path!, atomically: true, encoding: .utf8)
            reproducer = .init(seed: first, yaml: yaml, attempts: shrunk.attempts, faults: shrunk.scenario.configuration.faults.count,
                               attackerActions: shrunk.scenario.configuration.attacker.count, failures: shrunk.report.failures)
        }
        let document = SweepDocument(
            file: file, scenario: scenario.name, seeds: range, shard: shard,
            results: state.verdicts.map { .init(seed: $0.key, passed: $0.value.passed, oracles: $0.value.findings) }, reproducer: reproducer,
            tls: tls?.rawValue)
        if format == .json {
            print(try document.json)
        } else {
            let timing = "\(String(format: "%.1f", elapsed)) s (\(String(format: "%.0f", Double(all.count) / max(elapsed, 1e-9))) seeds/s, \(jobCount) \(threads || jobCount == 1 ? (jobCount == 1 ? "thread" : "threads") : "processes"))"
            print(document.text(table: table, timing: timing))
            if let reproducer, let path { print(Self.reproducerText(reproducer, path: path)) }
        }
        if !failing.isEmpty { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    /// The coverage table of a grid or reply-table sweep.
    static func table(_ scenario: Scenario, _ verdicts: [UInt64: (passed: Bool, findings: [String])]) -> GridCoverage? {
        scenario.sweep?.grid.map { GridCoverage(grid: $0, verdicts: verdicts) }
            ?? scenario.sweep?.replies.map { GridCoverage(replies: $0, verdicts: verdicts) }
            ?? scenario.sweep?.pairs.map { GridCoverage(pairs: $0, verdicts: verdicts) }
            ?? scenario.sweep?.compare.map { GridCoverage(compare: $0, verdicts: verdicts) }
    }

    /// What the report says of the shrunk reproducer.
    static func reproducerText(_ r: SweepDocument.Reproducer, path: String) -> String {
        (["shrunk in \(r.attempts) runs to \(r.faults) fault(s), \(r.attackerActions) attacker action(s): \(path)"] + r.failures.map { "  ✗ \($0)" } + ["replay: smtpsim run \(path) --trace"]).joined(separator: "\n")
    }

    /// A seed's verdict and the oracles that fired in it.
    static func verdict(_ scenario: Scenario, _ seed: UInt64) -> (passed: Bool, oracles: [String]) {
        guard let report = try? ScenarioRunner.run(scenario, seed: seed, trace: .forVerdicts) else { return (false, []) }
        var oracles: [String] = []
        for finding in report.result.findings where !oracles.contains(finding.oracle.rawValue) { oracles.append(finding.oracle.rawValue) }
        return (report.passed, oracles)
    }


    private func progress(_ s: SweepState, elapsed: Double) -> String {
        let (done, failed, total) = s.counts
        let rate = Double(done) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        return String(format: "[sweep] %d/%d seeds, %.0f seeds/s, %d failing, ETA %.0fs   ", done, total, rate, failed, eta)
    }
}

/// Shared by the sweep's threads.
final class SweepState: @unchecked Sendable {
    private let lock = NSLock()
    private let seeds: [UInt64]
    private var next = 0
    private var done = 0
    private(set) var failures: [UInt64] = []
    /// Each finished seed: passed, and the oracles that fired.
    private var results: [UInt64: (passed: Bool, findings: [String])] = [:]

    private let seedSet: Set<UInt64>

    init(seeds: [UInt64]) {
        self.seeds = seeds
        seedSet = Set(seeds)
    }

    func nextSeed() -> UInt64? {
        lock.lock()
        defer { lock.unlock() }
        guard next < seeds.count else { return nil }
        next += 1
        return seeds[next - 1]
    }

    private var finished = Set<UInt64>()

    /// Records a seed's verdict once; unknown seeds are ignored.
    func finish(_ seed: UInt64, passed: Bool, findings: [String] = []) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished.contains(seed), seedSet.contains(seed) else { return }
        finished.insert(seed)
        done += 1
        if !passed { failures.append(seed) }
        results[seed] = (passed, findings)
    }

    var verdicts: [UInt64: (passed: Bool, findings: [String])] {
        lock.lock()
        defer { lock.unlock() }
        return results
    }

    var allDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return done >= seeds.count
    }

    var counts: (Int, Int, Int) {
        lock.lock()
        defer { lock.unlock() }
        return (done, failures.count, seeds.count)
    }
}
