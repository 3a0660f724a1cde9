import ArgumentParser
import Foundation
import Scenario
import Simulation
import SMTPNet

/// `smtpsim run`: runs scenario files and judges each against its expectations.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run scenario files (or every *.yaml in folders) and check their expectations.",
        discussion: Help.reflow("""
            Each scenario is simulated at its seed (or --seed) with every oracle, then judged
            against its `expect` section. The format is documented in docs/scenario-format.md.
            With --against HOST:PORT each file's client script runs against that server
            instead (a fresh connection, the handshake without a certificate check; a step no
            reply answers waits --timeout seconds), and the file passes when its trace-contains
            and trace-lacks hold over the script's notes and the dialogue (`smtpsim learn
            --export` writes such files); its other expectations need the simulator.
            Exit status: 0 every scenario passed, 1 a scenario failed, 2 a file could not be read.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, junit }

    @Argument(help: "Scenario files or folders.") var paths: [String]
    @Option(help: "Run every scenario at this seed instead of its own.") var seed: UInt64?
    @Option(help: "Report format: text, json or junit.") var format: Format = .text
    @Flag(help: "Print each run's trace.") var trace = false
    @Option(help: "Write a self-contained HTML report (ladder diagrams) to this file.") var html: String?
    @Option(help: "Write each run as a pcap file (with several scenarios: NAME-1.pcap, NAME-2.pcap, …).") var pcap: String?
    @Option(help: "Write the NSS key log for the pcap's TLS (SSLKEYLOGFILE format).") var keylog: String?
    @Option(help: "Run each file's client script against this server, HOST:PORT, instead of the simulator.") var against: String?
    @Option(help: "With --against: seconds to connect and to wait for each reply.") var timeout = 5.0

    func run() throws {
        let files = try Self.expand(paths)
        if let against { return try runAgainst(try NetCLI.address(against, defaultPort: 25), files) }
        var reports: [ScenarioReport] = []
        var errors: [ScenarioError] = []
        let clock = ContinuousClock()
        let start = clock.now
        for file in files {
            do {
                var scenario = try ScenarioLoader.load(path: file)
                scenario.configuration.keyLog = keylog != nil
                let report = try ScenarioRunner.run(scenario, seed: seed, trace: trace || html != nil || pcap != nil ? .always : .whenNeeded)
                try RunFiles(pcap: pcap, keylog: keylog).write(report.result, epoch: scenario.configuration.epoch, index: reports.count, of: files.count)
                reports.append(report)
                if format == .text { print(Self.text(report, trace: trace)) }
            } catch let e as ScenarioError {
                errors.append(e)
                if format == .text { print("ERROR \(e)") }
            } catch {
                let e = ScenarioError(file: file, keyPath: "", message: "could not run: \(error)")
                errors.append(e)
                if format == .text { print("ERROR \(e)") }
            }
        }
        let elapsed = clock.now - start
        if let html {
            try RunFiles.write(HTMLReport.render(reports, errors: errors, title: "smtpsim: \(files.count) scenario\(files.count == 1 ? "" : "s")"), to: html)
        }
        switch format {
        case .text:
            let failed = reports.filter { !$0.passed }.count
            print("\n\(files.count) scenario\(files.count == 1 ? "" : "s"): \(reports.count - failed) passed, \(failed) failed, \(errors.count) error\(errors.count == 1 ? "" : "s") (\(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated))))")
        case .json:
            print(try Self.json(reports, errors))
        case .junit:
            print(Self.junit(reports, errors))
        }
        if !errors.isEmpty { throw ExitCode(ExitStatus.badInput.rawValue) }
        if reports.contains(where: { !$0.passed }) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    /// `--against`: each client script on a real socket, judged by its trace expectations.
    func runAgainst(_ server: HostPort, _ files: [String]) throws {
        var failed = 0
        for file in files {
            let scenario: Scenario
            do { scenario = try ScenarioLoader.load(path: file) } catch { throw ValidationError("\(error)") }
            guard let steps = scenario.clientScripts.first ?? nil else { throw ValidationError("\(file): --against runs a client script, and this file has none") }
            let run = try SocketScript.runBlocking(steps, against: server, timeout: max(0.1, timeout))
            let seen = run.notes + run.exchanges.map(\.text)
            var failures = scenario.expectations.traceContains.filter { t in !seen.contains { $0.contains(t) } }.map { "trace-contains: \($0.debugDescription) is not in the dialogue" }
            failures += scenario.expectations.traceLacks.filter { t in seen.contains { $0.contains(t) } }.map { "trace-lacks: \($0.debugDescription) is in the dialogue" }
            if !failures.isEmpty { failed += 1 }
            var lines = ["\(failures.isEmpty ? "PASS" : "FAIL")  \(file) — \(scenario.name) (against \(server))"]
            lines += run.notes.map { "      \($0)" } + failures.map { "      ✗ \($0)" }
            // What the server did that the oracles one end can see judge wrong (SessionJudge):
            // reported, as in the simulator; the file's expectations decide PASS or FAIL.
            lines += run.findings.map { "      finding: \($0.summary)" }
            if trace { lines += run.exchanges.map { "      \(String(format: "%.3f", $0.seconds))s \($0.direction == .sent ? "c>s" : "s>c") \($0.layer) \($0.text)" } }
            print(lines.joined(separator: "\n"))
        }
        print("\n\(files.count) scenario\(files.count == 1 ? "" : "s") against \(server): \(files.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    static func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("no such file or folder: \(path)")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                files += names.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        return files
    }

    static func text(_ r: ScenarioReport, trace: Bool) -> String {
        var lines = ["\(r.passed ? "PASS" : "FAIL")  \(r.scenario.file) — \(r.scenario.name) (seed \(r.seed), \(TraceEvent.formatTime(r.result.duration)) simulated)"]
        if !r.passed {
            for o in r.result.outcomes {
                lines.append("      \(o.messageID): \(o.status.rawValue) — \(o.reason)\(o.tlsResultType.map { " [\($0.rawValue)]" } ?? "")")
                lines += o.recipientLines.map { "        \($0)" }
            }
            lines += r.failures.map { "      ✗ \($0)" }
            lines.append("      replay: \(r.replayLine) --trace")
        }
        if trace { lines.append(r.result.trace.text) }
        return lines.joined(separator: "\n")
    }

    static func json(_ reports: [ScenarioReport], _ errors: [ScenarioError]) throws -> String {
        let items: [[String: Any]] = reports.map { r in
            [
                "file": r.scenario.file, "name": r.scenario.name, "seed": r.seed, "passed": r.passed, "failures": r.failures,
                "digest": r.result.digest ?? "", "replay": r.replayLine, "acceptedMessages": r.result.accepted.count,
                "outcomes": r.result.outcomes.map { o -> [String: Any] in
                    ["message": o.messageID, "status": o.status.rawValue, "reason": o.reason, "attempt": o.attempt, "tlsResultType": o.tlsResultType?.rawValue ?? NSNull(),
                     "recipients": o.recipients.map { r -> [String: Any] in
                         ["recipient": r.recipient.description, "status": r.statusName, "attempt": r.attempt, "reply": r.reply?.description ?? NSNull()]
                     }]
                },
                "findings": r.result.findings.map { ["oracle": $0.oracle.rawValue, "side": $0.side?.rawValue ?? "run", "event": $0.eventIndex, "explanation": $0.explanation, "reference": $0.reference] },
            ]
        }
        let object: [String: Any] = ["scenarios": items, "errors": errors.map(\.description)]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// Text as XML character data or an attribute value (JUnit reports).
    static func esc(_ s: String) -> String { HTMLReport.esc(s) }

    static func junit(_ reports: [ScenarioReport], _ errors: [ScenarioError]) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures = reports.filter { !$0.passed }.count
        out += "<testsuite name=\"smtpsim\" tests=\"\(reports.count + errors.count)\" failures=\"\(failures)\" errors=\"\(errors.count)\">\n"
        for r in reports {
            out += "  <testcase classname=\"\(esc(r.scenario.file))\" name=\"\(esc(r.scenario.name))\">\n"
            if !r.passed {
                out += "    <failure message=\"\(esc(r.failures.first ?? ""))\">\(esc((r.failures + ["replay: \(r.replayLine)"]).joined(separator: "\n")))</failure>\n"
            }
            out += "  </testcase>\n"
        }
        for e in errors {
            out += "  <testcase classname=\"\(esc(e.file))\" name=\"load\">\n    <error message=\"\(esc(e.description))\"/>\n  </testcase>\n"
        }
        return out + "</testsuite>"
    }
}
