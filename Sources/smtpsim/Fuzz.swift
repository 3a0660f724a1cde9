import ArgumentParser
import Foundation
import SMTPHarness

/// `smtpsim fuzz`: builds the libFuzzer targets with the only flags that give coverage
/// (docs/design.md, "Facts the code relies on"), runs them with the dictionary, shows progress, merges new coverage into
/// Corpus/<Target>/, and keeps each crash there, minimised, under a readable name.
struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run libFuzzer targets (overnight or briefly), merge coverage, keep minimised crashes in Corpus/.",
        discussion: Help.reflow("""
            Targets: \(targets.joined(separator: ", ")) (and Canary, which only proves a crash is caught).
            Run from the package root. Crash files in Corpus/<Target>/ are replayed by `swift test`.
            """)
    )

    /// The harness's list (one entry function per target), so the CLI never disagrees with it.
    static let targets = Harness.targets.map(\.name)

    @Argument(help: "A target name, or `all`.") var target: String = "all"
    @Option(help: "Time per target: 30s, 10m, 8h.") var time: String = "60s"
    @Option(help: "Parallel fuzzing jobs (libFuzzer fork mode when > 1).") var jobs: Int = 1
    @Option(help: "Longest input.") var maxLen: Int = 4096
    @Flag(help: "Build without AddressSanitizer (faster, fewer bugs found).") var noAsan = false
    @Flag(help: "Do not merge new coverage into Corpus/.") var noMerge = false
    @Flag(help: "Start from Corpus/ alone: forget the work folder an earlier run grew (for speed figures from the committed corpus).") var fresh = false
    @Option(help: "Reproduce one input (with --target-name) and exit.") var replay: String?
    @Option(help: "The target of --replay.") var targetName: String?

    func run() throws {
        if let replay {
            guard let name = targetName ?? (target == "all" ? nil : target) else { throw ValidationError("--replay needs the target: smtpsim fuzz TARGET --replay FILE") }
            try shellStreaming(["swift", "build", "--product", "Fuzz\(name)"])
            try shellStreaming([".build/debug/Fuzz\(name)", replay], environment: ["SWIFT_BACKTRACE": "enable=no"])
            return
        }
        let seconds = try Self.parseTime(time)
        let names = target == "all" ? Self.targets : [target]
        for name in names where !(Self.targets + ["Canary"]).contains(name) { throw ValidationError("unknown target \(name)") }
        var summary: [String] = []
        for name in names {
            try build(name)
            summary.append(try fuzz(name, seconds: seconds))
        }
        print("\n== summary")
        for line in summary { print(line) }
        if summary.contains(where: { $0.contains("crash(es) kept") || $0.contains("a crash kept already") }) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    static func parseTime(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("s", 1), ("m", 60), ("h", 3600)]
        for (u, f) in units where text.hasSuffix(u) {
            if let v = Int(text.dropLast()) { return v * f }
        }
        if let v = Int(text) { return v }
        throw ValidationError("--time takes 30s, 10m or 8h")
    }

    var buildFlags: [String] {
        ["--sanitize=fuzzer"] + (noAsan ? [] : ["--sanitize=address"]) + ["-Xswiftc", noAsan ? "-sanitize=fuzzer" : "-sanitize=fuzzer,address", "-Xswiftc", "-DFUZZING",
         // Package.swift's hot-path targets drop the run-time exclusivity checks in release; fuzzing keeps them (the last flag wins).
         "-Xswiftc", "-enforce-exclusivity=checked"]
    }

    /// The ASan options fuzzing runs with (also in Fuzz/build.sh's .options files).
    static let asanOptions = "malloc_context_size=4"

    func build(_ name: String) throws {
        print("== building Fuzz\(name) (\(noAsan ? "fuzzer" : "fuzzer,address"))")
        try shellStreaming(["swift", "build", "-c", "release", "--scratch-path", ".build-fuzz", "--product", "Fuzz\(name)"] + buildFlags)
    }

    /// Runs one target; returns its summary line.
    func fuzz(_ name: String, seconds: Int) throws -> String {
        let work = ".fuzz-work/\(name)"
        let crashes = ".fuzz-work/\(name)-crashes/"
        if fresh { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // Only this run's crashes are kept: an artifact left by an earlier run (already kept in
        // Corpus/, perhaps fixed since) is not a new crash.
        try? FileManager.default.removeItem(atPath: crashes)
        try FileManager.default.createDirectory(atPath: crashes, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "Corpus/\(name)", withIntermediateDirectories: true)
        var arguments = ["-max_total_time=\(seconds)", "-max_len=\(maxLen)", "-dict=Fuzz/smtp.dict", "-artifact_prefix=\(crashes)",
                         "-print_final_stats=1", "-timeout=10", "-rss_limit_mb=4096"]
        if jobs > 1 { arguments += ["-fork=\(jobs)", "-ignore_crashes=1"] }
        // The committed corpus without its kept crashes: those are regression tests that `swift
        // test` replays; fed back to libFuzzer, one that is not fixed yet kills every later run
        // while the corpus loads (issue 27).
        let seeds = ".fuzz-work/\(name)-seeds"
        try? FileManager.default.removeItem(atPath: seeds)
        try FileManager.default.createDirectory(atPath: seeds, withIntermediateDirectories: true)
        for file in (try? FileManager.default.contentsOfDirectory(atPath: "Corpus/\(name)")) ?? [] where !Self.isKeptCrash(file) {
            try? FileManager.default.copyItem(atPath: "Corpus/\(name)/\(file)", toPath: "\(seeds)/\(file)")
        }
        arguments += [work, seeds]
        print("== fuzzing \(name) for \(seconds) s (\(jobs) job\(jobs == 1 ? "" : "s"))")
        let binary = ".build-fuzz/release/Fuzz\(name)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        // ASan records a 30-frame stack for every allocation by default; OpenSSL allocates a few
        // hundred times per handshake, and 4 frames still name the allocation site in a report
        // (+45 % exec/s on StartTLSBoundary, measured with the option given and not). A user's
        // own ASAN_OPTIONS win.
        if environment["ASAN_OPTIONS"] == nil { environment["ASAN_OPTIONS"] = Self.asanOptions }
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = err
        try process.run()
        var last = "", execs = "0", rate = "0", cov = "0", corpus = "0"
        let interactive = isatty(1) != 0
        err.fileHandleForReading.forEachLine { line in
            let fields = line.split { $0 == " " || $0 == "\t" }
            if let i = fields.firstIndex(of: "cov:"), i + 1 < fields.count { cov = String(fields[i + 1]) }
            if let i = fields.firstIndex(of: "corp:"), i + 1 < fields.count { corpus = String(fields[i + 1].split(separator: "/").first ?? "") }
            if let i = fields.firstIndex(of: "exec/s:"), i + 1 < fields.count { rate = String(fields[i + 1]) }
            if line.hasPrefix("#"), let n = fields.first { execs = String(n.dropFirst()) }
            if line.hasPrefix("stat::number_of_executed_units:") { execs = String(fields.last ?? "") }
            if line.hasPrefix("stat::average_exec_per_sec:") { rate = String(fields.last ?? "") }
            if line.contains("ERROR") || line.contains("invariant broken") || line.contains("Fatal error") { print(line) }
            let progress = "[\(name)] execs \(execs)  exec/s \(rate)  cov \(cov)  corpus \(corpus)"
            if progress != last {
                last = progress
                if interactive { print("\r\(progress)", terminator: "") } else if line.hasPrefix("#") && line.contains("pulse") { print(progress) }
                fflush(nil)
            }
        }
        process.waitUntilExit()
        if interactive { print("") }
        // Merge new coverage into the committed corpus.
        if !noMerge {
            try? shellQuiet([binary, "-merge=1", "-max_len=\(maxLen)", "Corpus/\(name)", work])
        }
        // Minimise and keep each crash under a readable name, once: a crash whose input is kept
        // already is named, not copied again.
        var kept: [String] = []
        var known: [String] = []
        for file in (try? FileManager.default.contentsOfDirectory(atPath: crashes)) ?? [] where !file.hasPrefix(".") {
            let path = crashes + file
            let minimized = path + ".min"
            try? shellQuiet([binary, "-minimize_crash=1", "-runs=20000", "-exact_artifact_path=\(minimized)", path])
            let source = FileManager.default.fileExists(atPath: minimized) ? minimized : path
            if let same = Self.keptCrash(matching: source, in: "Corpus/\(name)") {
                known.append(same)
                continue
            }
            let reason = (try? crashReason(binary, source)) ?? "crash"
            let dest = "Corpus/\(name)/\(file.hasPrefix("crash") ? "crash" : file.split(separator: "-").first.map(String.init) ?? "crash")-\(reason)-\(file.suffix(8))"
            try? FileManager.default.removeItem(atPath: dest)
            try FileManager.default.copyItem(atPath: source, toPath: dest)
            kept.append(dest)
        }
        var line = "\(name): \(execs) execs, \(rate) exec/s, coverage \(cov), corpus \(corpus)"
        for k in known { line += "\n    a crash kept already (not fixed yet): \(k)" }
        if kept.isEmpty {
            line += known.isEmpty ? ", no crash" : ""
        } else {
            line += ", \(kept.count) crash(es) kept:"
            for k in kept { line += "\n    \(k)\n    replay: smtpsim fuzz \(name) --replay \(k)" }
        }
        return line
    }

    /// A crash, timeout, out-of-memory or leak input kept in Corpus/ (named by `fuzz`, or by hand).
    static func isKeptCrash(_ file: String) -> Bool {
        ["crash-", "timeout-", "oom-", "leak-", "slow-unit-"].contains { file.hasPrefix($0) }
    }

    /// The kept crash in `folder` with the same octets as `input`, if any.
    static func keptCrash(matching input: String, in folder: String) -> String? {
        guard let bytes = FileManager.default.contents(atPath: input) else { return nil }
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter(isKeptCrash).sorted()
            .first { FileManager.default.contents(atPath: "\(folder)/\($0)") == bytes }.map { "\(folder)/\($0)" }
    }

    /// A short, file-name-safe reason from the crash's report.
    func crashReason(_ binary: String, _ input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [input]
        process.environment = ["SWIFT_BACKTRACE": "enable=no"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = text.split(separator: "\n").first { $0.contains("invariant broken") || $0.contains("Fatal error") || $0.contains("ERROR: AddressSanitizer") } ?? "crash"
        let words = line.components(separatedBy: "invariant broken:").last ?? String(line)
        let slug = words.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.reduce(into: "") { s, c in if !(c == "-" && s.hasSuffix("-")) { s.append(c) } }
        return String(slug.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(48))
    }
}

func shellStreaming(_ arguments: [String], environment: [String: String] = [:]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ExitCode(process.terminationStatus) }
}

func shellQuiet(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
}
