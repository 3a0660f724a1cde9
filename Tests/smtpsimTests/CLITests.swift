import Foundation
import TestSupport
import XCTest

/// Runs the built `smtpsim` binary the way a user does.
final class CLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        // The test bundle sits in the build products folder, beside the smtpsim executable.
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("smtpsim")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "/nonexistent/smtpsim")
    }

    func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = Self.root
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }

    /// `probe --in-memory`: every check against smtpsim's server in memory, a flaw profile
    /// failing its checks (exit 1), the compliant server passing all (exit 0); a flaw needs
    /// --in-memory, and a target is needed (exit 2).
    func testProbeInMemory() throws {
        let clean = try run(["probe", "--in-memory"])
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
        XCTAssertTrue(clean.stdout.contains("43 checks: 43 pass"), clean.stdout)
        let flawed = try run(["probe", "--in-memory", "--server-flaw", "offers-auth-plain-before-tls", "--format", "json"])
        XCTAssertEqual(flawed.status, 1, flawed.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(flawed.stdout.utf8)) as? [String: Any]
        let failed = (doc?["results"] as? [[String: Any]] ?? []).filter { $0["verdict"] as? String == "fail" }.compactMap { $0["check"] as? String }
        XCTAssertEqual(failed, ["auth-before-tls"])
        XCTAssertEqual(try run(["probe", "127.0.0.1:25", "--server-flaw", "offers-auth-plain-before-tls"]).status, 2)
        XCTAssertEqual(try run(["probe"]).status, 2)
    }

    func testBenchTLSBuildsAndRunsTheRepositorysOwnCBaseline() throws {
        // A fresh clone has Benchmarks/ and nothing beside it: the baseline must come from there.
        let r = try run(["bench", "tls", "--seconds", "0.05", "--repetitions", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("not found"), r.stdout)
        XCTAssertTrue(r.stdout.contains("C baseline"), r.stdout)
        XCTAssertTrue(r.stdout.contains("% of it"), r.stdout)
    }

    /// Every subcommand's help: the files it names exist in the repository, and its paragraphs
    /// reach the wrapper as one line each (a hard line break shows as a short line followed by
    /// one that goes on mid-sentence).
    func testEveryHelpNamesRealFilesAndWrapsCleanly() throws {
        let top = try run(["--help"]).stdout
        let names = top.components(separatedBy: "SUBCOMMANDS:").last!.split(separator: "\n")
            .compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
                return line.split(separator: " ").first.map(String.init)
            }
        XCTAssertGreaterThan(names.count, 10, top)
        let path = try NSRegularExpression(pattern: "(?:docs|Scenarios|Fuzz|Corpus|Benchmarks|Tests|scripts)/[A-Za-z0-9_./-]*[A-Za-z0-9_]")
        for name in [""] + names {
            let help = try run(name.isEmpty ? ["--help"] : [name, "--help"]).stdout
            XCTAssertFalse(help.isEmpty, name)
            let range = NSRange(help.startIndex..., in: help)
            for match in path.matches(in: help, range: range) {
                let file = String(help[Range(match.range, in: help)!])
                guard !file.contains("<"), !file.hasSuffix("Target") else { continue }
                XCTAssertTrue(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(file).path), "\(name) --help names \(file), which is not in the repository")
            }
            let prose = help.components(separatedBy: "USAGE:").first!.split(separator: "\n", omittingEmptySubsequences: false)
            for (a, b) in zip(prose, prose.dropFirst()) where !a.isEmpty && !b.isEmpty && !b.hasPrefix(" ") && !b.hasPrefix("-") {
                let startsLower = b.first.map { $0.isLowercase } ?? false
                XCTAssertFalse(a.count < 60 && startsLower && !a.hasSuffix(":"), "\(name) --help breaks a sentence: \"\(a)\" / \"\(b)\"")
            }
        }
    }

    func testBinaryIsBuilt() {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path), Self.binary.path)
    }

    func testRealSocketCommandsSayUnreachableInOneLine() throws {
        // Port 1 on loopback: nothing listens there.
        let send = try run(["send", "--server", "127.0.0.1:1", "--timeout", "2"])
        XCTAssertEqual(send.status, 3, "deferred, as for run")
        XCTAssertEqual(send.stderr, "smtpsim: connection to 127.0.0.1:1 refused\n")
        let probe = try run(["probe", "127.0.0.1:1", "--timeout", "1"])
        XCTAssertEqual(probe.status, 3)
        XCTAssertEqual(probe.stderr, "smtpsim: connection to 127.0.0.1:1 refused\n")
        XCTAssertEqual(probe.stdout, "", "nothing probed, nothing printed")
    }

    func testRealSocketCommandsRefuseBadArguments() throws {
        let badPort = try run(["serve", "--listen", "127.0.0.1:99999", "--maildir", NSTemporaryDirectory()])
        XCTAssertEqual(badPort.status, 2)
        XCTAssertTrue(badPort.stderr.contains("port must be 0–65535"), badPort.stderr)
        let scenario = NSTemporaryDirectory() + "smtpsim-corrupting-\(getpid()).yaml"
        try "version: 1\nname: corrupting\nclient:\n  messages: [{from: a@example.test, to: [b@example.net], body: hi}]\nfaults:\n  - corrupt: {probability: 1/10}\n".write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulationOnly = try run(["serve", "--maildir", NSTemporaryDirectory(), "--listen", "127.0.0.1:0", "--scenario", scenario])
        XCTAssertEqual(simulationOnly.status, 2, simulationOnly.stdout)
        XCTAssertTrue(simulationOnly.stderr.contains("simulation-only"), simulationOnly.stderr)
        let unknownAttack = try run(["proxy", "--upstream", "127.0.0.1:25", "--attack", "teleport"])
        XCTAssertEqual(unknownAttack.status, 2)
    }

    func testParseReportsSmuggling() throws {
        let r = try run(["parse", "docs/examples/smuggling-lf-dot-crlf.smtp"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("@154    finding   SMTP smuggling sequence lf-dot-crlf"), r.stdout)
        XCTAssertTrue(r.stdout.contains("@249    command   QUIT"), r.stdout)
        let strict = try run(["parse", "--strict", "docs/examples/smuggling-lf-dot-crlf.smtp"])
        XCTAssertEqual(strict.status, 1)
    }

    func testParseReportsBytesAfterStartTLS() throws {
        let r = try run(["parse", "docs/examples/starttls-command-injection.smtp"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("28 octets follow STARTTLS"), r.stdout)
    }

    func testParseServerSide() throws {
        let r = try run(["parse", "--side", "server", "docs/examples/server-replies.smtp"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("capabilities: PIPELINING, SIZE 10485760, STARTTLS"), r.stdout)
        XCTAssertTrue(r.stdout.contains("inconsistent-multiline-reply"), r.stdout)
    }

    func testUnreadableFileExitsWithTwo() throws {
        let r = try run(["parse", "no/such/file.smtp"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("cannot read"))
    }

    func testBenchRuns() throws {
        let r = try run(["bench", "parsers", "--seconds", "0.01", "--repetitions", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for label in ["command lines", "reply lines", "DATA decoder", "memchr line walk", "DotStuffer"] {
            XCTAssertTrue(r.stdout.contains(label), label)
        }
    }

    private func digest(_ r: Run) -> String? {
        for prefix in ["transcript sha256: ", "trace sha256: "] {
            if let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line.dropFirst(prefix.count)) }
        }
        return nil
    }

    /// One exit-code map (issue 27): a usage error and an unreadable path exit 2, as every help
    /// says, not ArgumentParser's 64; `tls --version` is `--tls-version` now, the old name kept.
    func testUsageErrorsAndUnreadablePathsExit2() throws {
        XCTAssertEqual(try run(["run", "/nonexistent/x.yaml"]).status, 2)
        XCTAssertEqual(try run(["run"]).status, 2)
        XCTAssertEqual(try run(["simulate", "--seed", "x"]).status, 2)
        XCTAssertEqual(try run(["no-such-command"]).status, 2)
        XCTAssertEqual(try run(["run", "--help"]).status, 0)
        let old = try run(["tls", "--version", "1.2"])
        XCTAssertEqual(old.status, 0)
        XCTAssertTrue(old.stderr.contains("--version is deprecated"), old.stderr)
        XCTAssertTrue(old.stdout.contains("TLSv1.2"), old.stdout)
        XCTAssertTrue(try run(["tls", "--tls-version", "1.2"]).stdout.contains("TLSv1.2"))
    }

    /// Issue 27: a budget spent before a first hypothesis reports what was learned (exit 3, not
    /// 1); every difference is counted, and none is dropped without a word.
    func testLearnReportsAnEarlyStopAndCountsEveryDifference() throws {
        let early = try run(["learn", "--in-memory", "--max-queries", "3"])
        XCTAssertEqual(early.status, 3, early.stdout + early.stderr)
        XCTAssertTrue(early.stdout.contains("incomplete: the query budget (3) is spent, before a first hypothesis; 3 queries"), early.stdout)
        XCTAssertTrue(early.stdout.contains("state(s) in the observation table so far"), early.stdout)
        let json = try run(["learn", "--in-memory", "--max-queries", "3", "--format", "json"])
        XCTAssertEqual(json.status, 3)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(document["queries"] as? Int, 3)
        XCTAssertNotNil(document["incomplete"] as? String)
        let flawed = ["learn", "--in-memory", "--server-flaw", "keeps-plaintext-across-starttls", "--server-flaw", "advertises-starttls-after-tls",
                      "--inputs", "EHLO", "STARTTLS", "HANDSHAKE", "STARTTLS+NOOP", "NOOP", "--diff", "compliant"]
        let one = try run(flawed + ["--max-differences", "1"])
        XCTAssertEqual(one.status, 1)
        XCTAssertTrue(one.stdout.contains("2 difference(s) from the compliant in-memory server; the 1 shortest:"), one.stdout)
        XCTAssertTrue(one.stdout.contains("… 1 more, not listed: --max-differences 0 lists them all"), one.stdout)
        let all = try run(flawed + ["--max-differences", "0"])
        XCTAssertTrue(all.stdout.contains("2 difference(s) from the compliant in-memory server:"), all.stdout)
        XCTAssertFalse(all.stdout.contains("more, not listed"), all.stdout)
    }

    func testTLSHandshakeIsDeterministicAcrossProcesses() throws {
        // Two separate processes, same seed: the same TLS bytes (certificates, key shares, records).
        for extra in [[], ["--tls-version", "1.2"], ["--cheap", "tls13-psk-dhe"], ["--key", "rsa2048"]] {
            let a = try run(["tls", "--seed", "42"] + extra)
            let b = try run(["tls", "--seed", "42"] + extra)
            XCTAssertEqual(a.status, 0, a.stdout + a.stderr)
            XCTAssertNotNil(digest(a))
            XCTAssertEqual(digest(a), digest(b), "\(extra)")
            let c = try run(["tls", "--seed", "43"] + extra)
            XCTAssertNotEqual(digest(a), digest(c), "\(extra)")
        }
    }

    func testTLSFailuresAreClassified() throws {
        let r = try run(["tls", "--variant", "expired"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("client: failed, certificate-expired (RFC 8460: certificate-expired)"), r.stdout)
        let pinned = try run(["tls", "--variant", "self-signed", "--trust", "pinned"])
        XCTAssertEqual(pinned.status, 0, pinned.stdout)
    }

    func testTLSWithUserPEMFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-pem-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try run(["tls", "--seed", "5", "--pem-out", dir]).status, 0)
        // Bring the exported files back as "your own" certificate: same chain, same CA.
        let r = try run(["tls", "--seed", "5", "--certificate", dir + "/server.pem", "--private-key", dir + "/server.key", "--keylog", dir + "/keys.txt"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let keys = try String(contentsOfFile: dir + "/keys.txt", encoding: .utf8)
        XCTAssertTrue(keys.contains("CLIENT_TRAFFIC_SECRET_0"))
        let bad = try run(["tls", "--certificate", dir + "/server.key", "--private-key", dir + "/server.key"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("PEM"), bad.stderr)
    }

    func testSimulateIsDeterministicAcrossProcesses() throws {
        let args = ["simulate", "--seed", "21", "--latency-ms", "1-30", "--split", "7", "--reset-at", "after-rcpt", "--auth", "a:b"]
        let a = try run(args)
        let b = try run(args)
        XCTAssertEqual(a.status, 0, a.stdout + a.stderr)
        XCTAssertNotNil(digest(a))
        XCTAssertEqual(digest(a), digest(b))
        XCTAssertNotEqual(digest(a), digest(try run(["simulate", "--seed", "22"] + args.dropFirst(3))))
        XCTAssertTrue(a.stdout.contains("replay: smtpsim simulate --seed 21"), a.stdout)
    }

    func testSimulateExitCodesAndFindings() throws {
        XCTAssertEqual(try run(["simulate", "--attack", "strip-starttls"]).status, 3, "deferred")
        let flawed = try run(["simulate", "--policy", "opportunistic", "--attack", "inject-to-server", "--server-flaw", "keeps-plaintext-across-starttls"])
        XCTAssertEqual(flawed.status, 1)
        XCTAssertTrue(flawed.stdout.contains("tls-boundary"), flawed.stdout)
        XCTAssertEqual(try run(["simulate", "--server-flaw", "no-such-flaw"]).status, 2)
        // The earlier name still works, and says the new one (the scenario file's).
        let former = try run(["simulate", "--policy", "opportunistic", "--attack", "inject-command", "--server-flaw", "keeps-plaintext-across-starttls"])
        XCTAssertEqual(former.status, 1)
        XCTAssertTrue(former.stderr.contains("--attack inject-command is now --attack inject-to-server"), former.stderr)
        XCTAssertTrue(former.stdout.contains("--attack inject-to-server"), former.stdout)
    }

    func testSimulateTakesAnyFaultInScenarioSyntax() throws {
        // docs/catalog.md I2 from the command line: Dead.Letter against the flawed server.
        let fault = #"{tls-close-notify: {from: client, at: mid-bdat-chunk, then-plaintext: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nRSET\r\n"}}"#
        let flawed = try run(["simulate", "--fault", fault, "--server-flaw", "reads-plaintext-after-close-notify", "--chunking"])
        XCTAssertEqual(flawed.status, 1, flawed.stdout + flawed.stderr)
        XCTAssertTrue(flawed.stdout.contains("tls-teardown"), flawed.stdout)
        XCTAssertTrue(flawed.stdout.contains("replay: smtpsim simulate --fault '{tls-close-notify:"), flawed.stdout)
        let compliant = try run(["simulate", "--fault", fault, "--chunking"])
        XCTAssertFalse(compliant.stdout.contains("FINDING"), compliant.stdout)
        let bad = try run(["simulate", "--fault", "{tls-alert: {from: client, alert: internal_error, at: after-mail}}"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("internal_error"), bad.stderr)
    }

    func testPcapDecryptsInTshark() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-pcap-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["simulate", "--seed", "3", "--auth", "alice:secret", "--pcap", dir + "/run.pcap", "--keylog", dir + "/keys.txt"])
        XCTAssertEqual(r.status, 0, r.stdout)
        guard let commands = try Tshark.smtpCommands(pcap: dir + "/run.pcap", keylog: dir + "/keys.txt") else {
            throw XCTSkip("tshark is not installed (.ci/run installs it)")
        }
        XCTAssertTrue(commands.contains("STAR"), "STARTTLS seen in plaintext: \(commands)")
        XCTAssertTrue(commands.contains("AUTH"), "AUTH seen only after decryption: \(commands)")
        XCTAssertTrue(commands.contains { $0.hasPrefix("MAIL") }, "\(commands)")
    }

    func testRunTheScenarioLibrary() throws {
        let r = try run(["run", "Scenarios/"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("0 failed, 0 errors"), r.stdout)
        XCTAssertTrue(r.stdout.contains("PASS  Scenarios/command-injection-after-starttls-is-discarded.yaml"), r.stdout)
    }

    /// Issue 18: `matrix` reads the two kinds of probe JSON, names a pair that delivers, says
    /// which way, exits 1; a file that is not probe JSON is a clear error.
    func testMatrixCombinesOutboundAndInboundProbeResults() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-matrix-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbound = """
            {"relay": "127.0.0.1:25", "listen": "127.0.0.1:2527", "results": [
              {"check": "data-lf-dot-crlf", "sent": "\\n.\\r\\n", "arrival": "verbatim", "arrived": "\\n.\\r\\n", "arrivedBase64": "Ci4NCg==", "messages": 1, "detail": ""},
              {"check": "data-lf-dot-lf", "sent": "\\n.\\n", "arrival": "refused", "reply": "550 no", "messages": 0, "detail": ""}]}
            """
        let inbound = """
            {"server": "127.0.0.1:2526", "results": [
              {"id": "G2", "check": "smuggling-lf-dot-crlf", "verdict": "fail", "detail": "", "bytes": []},
              {"id": "G2", "check": "smuggling-lf-dot-lf", "verdict": "fail", "detail": "", "bytes": []}]}
            """
        try outbound.write(toFile: dir + "/out.json", atomically: true, encoding: .utf8)
        try inbound.write(toFile: dir + "/in.json", atomically: true, encoding: .utf8)
        let r = try run(["matrix", "--outbound", "relay=\(dir)/out.json", "--inbound", "\(dir)/in.json"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("relay → 127.0.0.1:2526: data-lf-dot-crlf → lf-dot-crlf"), r.stdout)
        XCTAssertTrue(r.stdout.contains("1 of 1 pairs deliver a smuggled message"), r.stdout)
        let html = try run(["matrix", "--outbound", "\(dir)/out.json", "--inbound", "\(dir)/in.json", "--format", "html", "--output", dir + "/m.html"])
        XCTAssertEqual(html.status, 1, html.stderr)
        XCTAssertTrue(try String(contentsOfFile: dir + "/m.html", encoding: .utf8).contains("<td class=bad>delivers"))
        let bad = try run(["matrix", "--outbound", "\(dir)/in.json", "--inbound", "\(dir)/in.json"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("not a probe JSON document"), bad.stderr)
    }

    /// Issue 19: `learn --in-memory` writes the machine as JSON; `--diff` against it names the
    /// shortest word where a flawed server answers otherwise, and exits 1.
    func testLearnWritesTheMachineAndDiffsAFlawedOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-learn-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let inputs = ["--inputs", "EHLO", "STARTTLS", "HANDSHAKE", "STARTTLS+NOOP", "NOOP"]
        let r = try run(["learn", "--in-memory"] + inputs + ["--format", "json", "--output", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("[learn] round 1:"), r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        XCTAssertEqual((json?["machine"] as? [String: Any])?["inputs"] as? [String], ["EHLO", "STARTTLS", "HANDSHAKE", "STARTTLS+NOOP", "NOOP"])
        XCTAssertGreaterThan(json?["queries"] as? Int ?? 0, 0)
        let d = try run(["learn", "--in-memory", "--server-flaw", "keeps-plaintext-across-starttls"] + inputs + ["--diff", path])
        XCTAssertEqual(d.status, 1, d.stderr)
        XCTAssertTrue(d.stdout.contains("EHLO STARTTLS+NOOP HANDSHAKE: tls+250 here, tls there"), d.stdout)
        // --export (against the compliant server by default): each difference a scenario file
        // that `smtpsim run` passes with the flaw and fails without it; --html the page.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-learn-export-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let html = folder + "/machine.html"
        let e = try run(["learn", "--in-memory", "--server-flaw", "keeps-plaintext-across-starttls"] + inputs + ["--export", folder, "--html", html])
        XCTAssertEqual(e.status, 1, e.stderr)
        XCTAssertTrue(e.stdout.contains("difference(s) from the compliant in-memory server"), e.stdout)
        XCTAssertTrue(e.stdout.contains("wrote \(folder)/difference-1.yaml: answers as learned in the simulator"), e.stdout)
        let scenario = folder + "/difference-1.yaml"
        let passed = try run(["run", scenario])
        XCTAssertEqual(passed.status, 0, passed.stdout)
        let text = try String(contentsOfFile: scenario, encoding: .utf8)
        XCTAssertTrue(text.contains("- tls-boundary"), text)
        try text.replacingOccurrences(of: "  flaws:\n  - keeps-plaintext-across-starttls\n", with: "").write(toFile: scenario, atomically: true, encoding: .utf8)
        let failed = try run(["run", scenario])
        XCTAssertEqual(failed.status, 1, failed.stdout)
        XCTAssertTrue(failed.stdout.contains("trace-lacks: 'script: expected' is in the trace"), failed.stdout)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<h2>Differences from the compliant in-memory server</h2>"), page)
        XCTAssertTrue(page.contains("reproduced"), page)
        XCTAssertTrue(page.contains("<h2>Transitions</h2>"), page)
        let none = try run(["learn"])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("--in-memory"), none.stderr)
        let flawOnSocket = try run(["learn", "127.0.0.1:1", "--server-flaw", "keeps-plaintext-across-starttls"])
        XCTAssertNotEqual(flawOnSocket.status, 0)
        XCTAssertTrue(flawOnSocket.stderr.contains("--server-flaw applies to --in-memory"), flawOnSocket.stderr)
    }

    /// `--svg` and the HTML page draw the machine with Graphviz (.ci/run installs it).
    func testLearnDrawsTheMachineWithGraphviz() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") else { throw XCTSkip("Graphviz is not installed (.ci/run installs it)") }
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-learn-\(getpid()).svg").path
        let html = svg + ".html"
        defer { try? FileManager.default.removeItem(atPath: svg); try? FileManager.default.removeItem(atPath: html) }
        let r = try run(["learn", "--in-memory", "--inputs", "EHLO", "STARTTLS", "HANDSHAKE", "QUIT", "--svg", svg, "--html", html])
        XCTAssertEqual(r.status, 0, r.stderr)
        let drawing = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(drawing.contains("<svg"), drawing)
        XCTAssertTrue(drawing.contains("STARTTLS / 220"), drawing)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<div class=\"machine\"><svg"), page)
    }

    func testSweepRunsEverySeedInTheProfileItIsGiven() throws {
        // Issue 17: `--tls` overrides the file's profile, in the child processes too; the same
        // verdicts as a file that names the profile itself.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-sweep-tls-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = """
            client:
              policy: required
              messages:
                - {from: alice@example.test, to: bob@example.net, body: "hi"}
            sweep:
              seeds: 1..6
              swarm:
                - {probability: 1/2, random-duration: true, fault: {split: {every: 7}}}
            expect:
              messages: [delivered]
            """
        try "version: 1\nname: Full by default\n\(body)".write(toFile: dir + "/full.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nname: Full by default\ntls: cheap-tls12\n\(body)".write(toFile: dir + "/cheap.yaml", atomically: true, encoding: .utf8)
        let given = try run(["sweep", dir + "/full.yaml", "--tls", "cheap-tls12", "--jobs", "2", "--format", "json", "--quiet"])
        XCTAssertEqual(given.status, 0, given.stderr)
        let named = try run(["sweep", dir + "/cheap.yaml", "--jobs", "2", "--format", "json", "--quiet"])
        // The document says which profile ran (a merge checks its shards agree; the replay line carries it).
        XCTAssertTrue(given.stdout.contains("\"tls\" : \"cheap-tls12\""), given.stdout)
        XCTAssertFalse(named.stdout.contains("\"tls\""), named.stdout)
        func verdicts(_ json: String) throws -> NSDictionary {
            let d = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            return d.filter { $0.key != "tls" && $0.key != "file" } as NSDictionary
        }
        XCTAssertEqual(try verdicts(given.stdout), try verdicts(named.stdout))
        let bad = try run(["sweep", dir + "/full.yaml", "--tls", "cheep"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("cheap-tls12"), bad.stderr)
    }

    func testShardsMergedEqualTheUnshardedSweep() throws {
        // Issue 17: shards 1/3, 2/3, 3/3 (on any machines) merged give the unsharded document.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-shards-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/shard.yaml"
        try """
            version: 1
            name: Some seeds lose the message to a reset and one retry
            tls: cheap
            client:
              retries: {max: 1}
              messages:
                - {from: alice@example.test, to: bob@example.net, body: "hi"}
            sweep:
              seeds: 1..30
              swarm:
                - {probability: 1/3, random-phase: true, fault: {reset: {at: after-mail, connections: [1]}}}
            expect:
              messages: [delivered]
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let whole = try run(["sweep", file, "--format", "json", "--out", dir + "/out", "--quiet"])
        XCTAssertEqual(whole.status, 1, whole.stderr)
        var shards: [String] = []
        for i in 1...3 {
            let r = try run(["sweep", file, "--shard", "\(i)/3", "--format", "json", "--out", dir + "/out", "--quiet", "--jobs", "1"])
            try r.stdout.write(toFile: dir + "/shard\(i).json", atomically: true, encoding: .utf8)
            shards.append(dir + "/shard\(i).json")
        }
        let merged = try run(["merge", "--format", "json"] + shards)
        XCTAssertEqual(merged.status, 1)
        XCTAssertEqual(merged.stdout, whole.stdout, "the merged document is the unsharded one")
        let doc = try JSONSerialization.jsonObject(with: Data(whole.stdout.utf8)) as! [String: Any]
        let summary = doc["summary"] as! [String: Any]
        XCTAssertEqual(summary["seeds"] as? Int, 30)
        XCTAssertGreaterThan(summary["failed"] as? Int ?? 0, 0, "the scenario has failing seeds, so a reproducer is merged too")
        XCTAssertNotNil(doc["reproducer"])
        let text = try run(["merge"] + shards)
        XCTAssertTrue(text.stdout.contains("30 seeds: "), text.stdout)
        XCTAssertTrue(text.stdout.contains("failing seeds: "), text.stdout)
        XCTAssertEqual(try run(["merge"] + shards.prefix(2)).status, 2, "a shard missing")
        XCTAssertEqual(try run(["merge", shards[0], shards[0], shards[1], shards[2]]).status, 2, "a seed twice")
    }

    func testRunReportsFailuresErrorsAndFormats() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-run-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wrong = """
            version: 1
            name: expects the wrong thing
            client:
              policy: required
              messages: [{from: a@example.test, to: b@example.net, body: hi}]
            expect:
              messages: [permanent-failure]
            """
        try wrong.write(toFile: dir + "/wrong.yaml", atomically: true, encoding: .utf8)
        let failed = try run(["run", dir + "/wrong.yaml"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stdout.contains("✗ messages: expected [\"permanent-failure\"], got [\"delivered\"]"), failed.stdout)
        XCTAssertTrue(failed.stdout.contains("replay: smtpsim run \(dir)/wrong.yaml --seed 1"), failed.stdout)
        try "version: 1\nname: x\nclinet: {}\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try run(["run", dir + "/bad.yaml"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stdout.contains("bad.yaml:3:1: clinet: unknown key 'clinet'"), bad.stdout)
        XCTAssertTrue(bad.stdout.contains("did you mean 'client'?"), bad.stdout)
        let json = try run(["run", "--format", "json", dir + "/wrong.yaml"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let scenarios = object?["scenarios"] as? [[String: Any]]
        XCTAssertEqual(scenarios?.first?["passed"] as? Bool, false)
        let junit = try run(["run", "--format", "junit", dir + "/wrong.yaml", dir + "/bad.yaml"])
        XCTAssertTrue(junit.stdout.contains("<testsuite name=\"smtpsim\" tests=\"2\" failures=\"1\" errors=\"1\">"), junit.stdout)
    }

    func testSweepShrinksAFailureToAMinimalReplayableFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-sweep-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Demands exactly one accepted message: the reset after the final dot, which every seed
        // now picks, breaks that.
        let text = try String(contentsOfFile: "Scenarios/delivery-survives-resets-stalls-and-splits-at-any-phase.yaml", encoding: .utf8)
            .replacingOccurrences(of: "duplicates: at-most-one", with: "accepted: 1")
            .replacingOccurrences(of: "probability: 1/4\n      random-phase: true\n      fault: {reset: {at: after-mail,",
                                  with: "probability: 1/1\n      fault: {reset: {at: after-final-dot,")
        try text.write(toFile: dir + "/strict.yaml", atomically: true, encoding: .utf8)
        for jobs in ["1", "2"] {
            let r = try run(["sweep", dir + "/strict.yaml", "--seeds", "1..60", "--jobs", jobs, "--out", dir + "/out", "--quiet"])
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("60 seeds"), r.stdout)
            XCTAssertTrue(r.stdout.contains("failing seeds: 1, "), r.stdout)
            XCTAssertTrue(r.stdout.contains("replay: smtpsim replay \(dir)/strict.yaml --seed 1"), r.stdout)
        }
        let minimal = dir + "/out/strict-seed-1-minimal.yaml"
        let shrunk = try String(contentsOfFile: minimal, encoding: .utf8)
        XCTAssertTrue(shrunk.contains("at: after-final-dot"), shrunk)
        XCTAssertFalse(shrunk.contains("\nsweep:"), shrunk)
        // The minimal file reproduces the failure on its own.
        let rerun = try run(["run", minimal])
        XCTAssertEqual(rerun.status, 1, rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains("accepted: expected the server to accept 1 message(s), it accepted 2"), rerun.stdout)
        // And the replay line shows the run.
        let replay = try run(["replay", dir + "/strict.yaml", "--seed", "1"])
        XCTAssertEqual(replay.status, 1)
        XCTAssertTrue(replay.stdout.contains("FAULT reset"), replay.stdout)
    }

    func testSweepOfAPassingScenarioAndShards() throws {
        let r = try run(["sweep", "Scenarios/command-injection-after-starttls-is-discarded.yaml", "--seeds", "1..10", "--shard", "2/3", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains(": 3 seeds"), r.stdout)
    }

    func testFaultsListsEverything() throws {
        let r = try run(["faults"])
        XCTAssertEqual(r.status, 0)
        for word in ["latency", "fail-handshake", "after-final-dot", "intercept-tls", "inject-auth"] {
            XCTAssertTrue(r.stdout.contains(word), word)
        }
    }

    func testHTMLReportRendersInChromium() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-html-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["run", "Scenarios/server-executing-injected-commands-is-caught.yaml", "Scenarios/command-injection-after-starttls-is-discarded.yaml", "--html", dir + "/report.html"])
        XCTAssertEqual(r.status, 0, r.stdout)
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(html.contains("<script"), "self-contained, no scripts")
        XCTAssertTrue(html.contains("class=\"arrow right\""), "client-to-server segments")
        XCTAssertTrue(html.contains("class=\"arrow left\""), "server-to-client segments")
        XCTAssertTrue(html.contains("<tr class=\"tls\">"), "the TLS part is shaded")
        XCTAssertTrue(html.contains("event attack"), "attacker actions are marked")
        XCTAssertTrue(html.contains("event read\">read: "), "what each side read, in its own lane")
        XCTAssertTrue(html.contains("[TLS] EHLO"), "writes inside TLS as their plaintext")
        XCTAssertTrue(html.contains("event finding\">✖ tls-boundary"), "findings are marked")
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("Chromium is not installed (.ci/run installs it)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,1800",
                       "--screenshot=" + dir + "/report.png", "file://" + dir + "/report.html"]
        p.standardOutput = Pipe()
        p.standardError = Pipe()
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/report.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        XCTAssertGreaterThan(png.count, 20_000, "a page with content, not a blank screenshot")
    }
}
