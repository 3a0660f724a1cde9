import Foundation
import XCTest

/// `smtpsim probe --client` over loopback: smtpsim's own client (`smtpsim send`) as the client
/// under test, each flaw profile failing exactly the checks that judge it; swaks where installed.
extension CLITests {
    /// `smtpsim send` as the command: required TLS with the factory CA, AUTH, two recipients.
    func sendCommand(flaw: String?, chunking: Bool = false, policy: String = "required") -> [String] {
        [Self.binary.path, "send", "--server", "{host}:{port}", "--starttls", policy, "--ca", "{ca}", "--from", "{from}", "--to", "{rcpt}", "--to", "{rcpt2}",
         "--auth", "{user}:{password}", "--timeout", "5", "--quiet"] + (chunking ? ["--chunking"] : []) + (flaw.map { ["--client-flaw", $0] } ?? []) + ["{message}"]
    }

    func probeClient(_ command: [String], policy: String = "required", timeout: Int = 20, extra: [String] = []) throws -> (Run, [[String: Any]]) {
        let run = try run(["probe", "--client", "--policy", policy, "--timeout", String(timeout), "--format", "json"] + extra + ["--"] + command)
        let doc = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        return (run, doc?["results"] as? [[String: Any]] ?? [])
    }

    func failed(_ results: [[String: Any]]) -> [String] {
        results.filter { $0["verdict"] as? String == "fail" }.compactMap { $0["check"] as? String }
    }

    /// Without a flaw every check passes (exit 0); each flaw fails exactly its checks (exit 1).
    func testProbeClientFailsExactlyTheChecksOfEachClientFlaw() throws {
        let (clean, results) = try probeClient(sendCommand(flaw: nil))
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
        XCTAssertEqual(results.count, 19)
        XCTAssertEqual(results.filter { $0["verdict"] as? String != "pass" }.compactMap { $0["check"] as? String }, [])
        // Opportunistic: plaintext where STARTTLS fails, bad certificates accepted, no credentials
        // sent over them (the probe found smtpsim's client sending them: fixed).
        let (opportunistic, loose) = try probeClient(sendCommand(flaw: nil, policy: "opportunistic"), policy: "opportunistic")
        XCTAssertEqual(opportunistic.status, 0, opportunistic.stdout)
        XCTAssertEqual(loose.filter { $0["verdict"] as? String != "pass" }.compactMap { $0["check"] as? String }, [])
        let expected: [(String, Bool, [String])] = [
            ("falls-back-to-plaintext", false, ["starttls-withheld", "starttls-454", "starttls-502", "starttls-530"]),
            ("sends-auth-before-tls", false, ["auth-offered-before-tls"]),
            ("ignores-certificate-errors", false, ["certificate-untrusted-ca", "certificate-self-signed", "certificate-wrong-host", "certificate-expired"]),
            ("keeps-pre-tls-capabilities", true, ["capabilities-change-after-tls"]),
            ("emits-bare-lf", false, ["message-transparency"]),
            ("skips-dot-stuffing", false, ["message-transparency"]),
            ("counts-deferred-recipients-as-delivered", false, ["451-to-one-recipient"]),
            ("keeps-buffered-replies-across-starttls", false, ["replies-injected-behind-the-220"]),
            ("reads-after-close-notify", false, ["close-notify-then-cleartext-reply"]),
        ]
        for (flaw, chunking, checks) in expected {
            let (run, results) = try probeClient(sendCommand(flaw: flaw, chunking: chunking))
            XCTAssertEqual(run.status, 1, flaw + run.stderr)
            XCTAssertEqual(failed(results), checks, flaw)
        }
    }

    /// A command that names its recipients itself (no `{rcpt}`): its exit status is judged against
    /// whether a message was accepted at all, not against recipients it never named.
    func testProbeClientJudgesTheExitStatusOfACommandWithItsOwnRecipients() throws {
        let command = [Self.binary.path, "send", "--server", "{host}:{port}", "--starttls", "required", "--ca", "{ca}", "--from", "{from}",
                       "--to", "someone@smtpsim.test", "--timeout", "5", "--quiet", "{message}"]
        let (run, results) = try probeClient(command, extra: ["--only", "B1,E2"])
        XCTAssertEqual(run.status, 0, run.stdout)
        XCTAssertEqual(results.map { $0["verdict"] as? String }, ["pass", "pass", "pass"], "\(results)")
        XCTAssertEqual(results.first?["exitTruthful"] as? Bool, true)
    }

    /// The evidence of a failure: the findings, the bytes by layer, the exit status and whether it
    /// told the truth; JUnit has one failure per failed check.
    func testProbeClientReportsItsEvidenceInJSONAndJUnit() throws {
        let (_, results) = try probeClient(sendCommand(flaw: "falls-back-to-plaintext"), extra: ["--only", "B1"])
        XCTAssertEqual(results.map { $0["check"] as? String }, ["control", "starttls-withheld"])
        let withheld = try XCTUnwrap(results.last)
        XCTAssertEqual(withheld["exitStatus"] as? Int, 0)
        XCTAssertEqual(withheld["exitTruthful"] as? Bool, true)
        XCTAssertEqual(withheld["delivered"] as? Int, 1)
        XCTAssertTrue((withheld["findings"] as? [String] ?? []).contains { $0.contains("MAIL, RCPT, DATA sent in plaintext under a policy that requires verified TLS") })
        let bytes = withheld["bytes"] as? [[String: Any]] ?? []
        XCTAssertTrue(bytes.contains { $0["direction"] as? String == "received" && $0["layer"] as? String == "plaintext" && ($0["text"] as? String ?? "").hasPrefix("MAIL FROM:<probe@smtpsim.test>") })

        let (_, deferred) = try probeClient(sendCommand(flaw: "counts-deferred-recipients-as-delivered"), extra: ["--only", "F7"])
        XCTAssertEqual(deferred.last?["exitTruthful"] as? Bool, false)
        XCTAssertTrue((deferred.last?["detail"] as? String ?? "").contains("exit status 0, but the server accepted the message only for rcpt@smtpsim.test"))

        let junit = try run(["probe", "--client", "--policy", "required", "--format", "junit", "--only", "C1,C3", "--"] + sendCommand(flaw: "ignores-certificate-errors"))
        XCTAssertEqual(junit.status, 1)
        XCTAssertTrue(junit.stdout.contains("tests=\"4\" failures=\"3\""), junit.stdout)
        XCTAssertEqual(junit.stdout.components(separatedBy: "<failure ").count - 1, 3)
    }

    /// The HTML page shows each check's evidence; `smtpsim matrix --client` puts several probes
    /// side by side (text, JSON, HTML) and exits 1 when a check failed.
    func testProbeClientHTMLAndTheClientMatrix() throws {
        let html = try run(["probe", "--client", "--policy", "required", "--format", "html", "--only", "C2", "--"] + sendCommand(flaw: "ignores-certificate-errors"))
        XCTAssertEqual(html.status, 1)
        XCTAssertTrue(html.stdout.contains("<td class=fail>fail</td>"), html.stdout)
        XCTAssertTrue(html.stdout.contains("<details><summary>evidence:"), html.stdout)
        XCTAssertTrue(html.stdout.contains("MAIL FROM:&lt;probe@smtpsim.test&gt;"), html.stdout)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("client-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, flaw) in [("clean", nil), ("flawed", "ignores-certificate-errors")] as [(String, String?)] {
            let r = try run(["probe", "--client", "--policy", "required", "--format", "json", "--only", "C1,C2", "--"] + sendCommand(flaw: flaw))
            try Data(r.stdout.utf8).write(to: folder.appendingPathComponent("\(name).json"))
        }
        let clean = folder.appendingPathComponent("clean.json").path, flawed = folder.appendingPathComponent("flawed.json").path
        let text = try run(["matrix", "--client", "ours=\(clean)", "--client", "broken=\(flawed)"])
        XCTAssertEqual(text.status, 1, text.stderr)
        XCTAssertTrue(text.stdout.contains("ours (required)") && text.stdout.contains("broken (required)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("4: certificate-wrong-host"), text.stdout)
        let json = try run(["matrix", "--client", "ours=\(clean)", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(doc?["checks"] as? [String], ["control", "certificate-untrusted-ca", "certificate-self-signed", "certificate-wrong-host"])
        let page = try run(["matrix", "--client", "broken=\(flawed)", "--format", "html"])
        XCTAssertEqual(page.stdout.components(separatedBy: "<td class=fail>").count - 1, 3, page.stdout)
        XCTAssertEqual(try run(["matrix", "--client", clean, "--inbound", clean]).status, 2)
    }

    /// A client that does not exit is stopped by its process id at the timeout (inconclusive); a
    /// check whose placeholder the command does not use is n/a; bad invocations exit 2.
    func testProbeClientStopsAClientThatHangsAndRefusesBadInvocations() throws {
        let hang = try run(["probe", "--client", "--policy", "opportunistic", "--timeout", "1", "--only", "F7", "--format", "json", "--", "sleep", "30"])
        let results = (try JSONSerialization.jsonObject(with: Data(hang.stdout.utf8)) as? [String: Any])?["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.first?["verdict"] as? String, "inconclusive", hang.stdout)
        XCTAssertNil(results.first?["exitStatus"])
        XCTAssertTrue((results.first?["detail"] as? String ?? "").contains("did not exit within 1 s (stopped by its process id)"), hang.stdout)
        XCTAssertEqual(results.last?["verdict"] as? String, "n/a")
        XCTAssertEqual(hang.status, 0)
        // What the client started is stopped with it (its process group), even when it ignores
        // SIGTERM and SIGHUP: the SIGKILL after the grace period goes to the whole group.
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("probe-client-child-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        _ = try run(["probe", "--client", "--policy", "required", "--timeout", "1", "--only", "B1", "--", "sh", "-c", "trap '' TERM HUP; sleep 31 & echo $! >> \(pidFile.path); wait"])
        let children = try String(contentsOf: pidFile, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(children.count, 2)
        for child in children {
            // Gone, or a zombie waiting for init to reap it (state Z in /proc): not running.
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            let state = stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "gone"
            XCTAssertTrue(["gone", "Z", "X"].contains(state), "the client's child \(child) outlived the probe: \(stat)")
            if !["gone", "Z", "X"].contains(state) { kill(child, SIGKILL) }
        }
        // The client runs in the probe's work folder, removed afterwards: nothing it writes lands
        // where the probe was started.
        let marker = Self.root.appendingPathComponent("smtpsim-probe-client-cwd-marker")
        _ = try run(["probe", "--client", "--policy", "required", "--timeout", "5", "--only", "F7", "--", "sh", "-c", "touch smtpsim-probe-client-cwd-marker"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path), "the client wrote into the directory the probe was started in")
        try? FileManager.default.removeItem(at: marker)
        XCTAssertEqual(try run(["probe", "--client", "--policy", "required"]).status, 2)
        XCTAssertEqual(try run(["probe", "--client", "--", "true"]).status, 2)
        XCTAssertEqual(try run(["probe", "--client", "--policy", "required", "--only", "Z9", "--", "true"]).status, 2)
        XCTAssertEqual(try run(["probe", "127.0.0.1:25", "--", "true"]).status, 2)
    }

    /// swaks (issue 29): with --tls-optional it goes on in plaintext on the connection whose
    /// STARTTLS got a 220 and no TLS (docs/catalog.md C4 forbids it even opportunistically), shown
    /// on the wire; with --tls it gives up.
    func testSwaksGoesOnInPlaintextAfterA220WithoutTLSOnlyWhenTLSIsOptional() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/swaks") else { throw XCTSkip("swaks is not installed (.ci/run installs it)") }
        let swaks = ["swaks", "--server", "{host}", "--port", "{port}", "--from", "{from}", "--to", "{rcpt}", "--data", "@{message}", "--timeout", "5"]
        let (_, optional) = try probeClient(swaks + ["--tls-optional"], policy: "opportunistic", timeout: 3, extra: ["--only", "B4"])
        let b4 = try XCTUnwrap(optional.last)
        XCTAssertEqual(b4["verdict"] as? String, "fail", "\(b4)")
        XCTAssertTrue((b4["findings"] as? [String] ?? []).contains { $0.contains("in plaintext after the server's 220 to its STARTTLS, on the same connection") }, "\(b4)")
        // On the wire: the 220, then the ClientHello read as plaintext, then MAIL in the clear.
        let texts = (b4["bytes"] as? [[String: Any]] ?? []).map { "\($0["direction"] ?? "") \($0["layer"] ?? "") \($0["text"] ?? "")" }
        let agreed = try XCTUnwrap(texts.firstIndex { $0.hasPrefix("sent plaintext 220 2.0.0 Ready to start TLS") }, "\(texts)")
        XCTAssertTrue(texts[agreed...].contains { $0.hasPrefix("received plaintext MAIL FROM:<probe@smtpsim.test>") }, "\(texts)")
        let (_, required) = try probeClient(swaks + ["--tls"], policy: "required", extra: ["--only", "B4"])
        XCTAssertEqual(required.last?["verdict"] as? String, "pass", "\(required)")
        // swaks puts an address's CRLF on the wire as it is: the injected command reaches the
        // server (smtpsim send refuses the address: the flaw test above passes F3).
        let (_, injected) = try probeClient(swaks + ["--tls", "--tls-ca-path", "{ca}"], policy: "required", extra: ["--only", "F3"])
        XCTAssertEqual(injected.dropFirst().map { $0["verdict"] as? String }, ["fail", "fail"], "\(injected)")
        let lines = (injected.last?["bytes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        XCTAssertTrue(lines.contains { $0.contains("NOOP smtpsim-injected\\r\\n") }, "\(lines)")
    }
}

/// Implicit TLS (RFC 8314 §3) on the command line: `probe --client --implicit-tls` with smtpsim's
/// client configured both ways, and the contradictions the commands refuse.
extension CLITests {
    func testProbeClientUnderImplicitTLSPassesAnImplicitClientAndChargesOneThatSpeaksInTheClear() throws {
        let implicit = [Self.binary.path, "send", "--implicit-tls", "--server", "{host}:{port}", "--starttls", "required", "--ca", "{ca}", "--from", "{from}",
                        "--to", "{rcpt}", "--to", "{rcpt2}", "--auth", "{user}:{password}", "--timeout", "5", "--quiet", "{message}"]
        let (clean, results) = try probeClient(implicit, extra: ["--implicit-tls"])
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
        XCTAssertEqual(results.count, 12, "the upgrade's 8 checks left out, implicit-tls-withheld added")
        XCTAssertEqual(results.filter { $0["verdict"] as? String != "pass" }.compactMap { $0["check"] as? String }, [])
        XCTAssertTrue(results.contains { $0["check"] as? String == "implicit-tls-withheld" })
        XCTAssertFalse(results.contains { ($0["check"] as? String ?? "").hasPrefix("starttls-") })
        // A STARTTLS client given the implicit-TLS port's address: it speaks SMTP in the clear
        // where the listener does, and is charged for it.
        let startTLS = [Self.binary.path, "send", "--server", "{host}:{port}", "--starttls", "opportunistic", "--from", "{from}", "--to", "{rcpt}", "--timeout", "3", "--quiet", "{message}"]
        let (run, loose) = try probeClient(startTLS, policy: "opportunistic", extra: ["--implicit-tls", "--only", "B1"])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(failed(loose), ["implicit-tls-withheld"])
        let detail = loose.first { $0["check"] as? String == "implicit-tls-withheld" }?["detail"] as? String ?? ""
        XCTAssertTrue(detail.contains("configured for implicit TLS, sent EHLO"), detail)
    }

    func testImplicitTLSContradictionsAreRefused() throws {
        let noTLS = try run(["serve", "--implicit-tls", "--no-tls", "--listen", "127.0.0.1:0", "--maildir", NSTemporaryDirectory()])
        XCTAssertEqual(noTLS.status, 2)
        XCTAssertTrue(noTLS.stderr.contains("implicit TLS"), noTLS.stderr)
        let plaintext = try run(["send", "--implicit-tls", "--starttls", "none", "--server", "127.0.0.1:1"])
        XCTAssertEqual(plaintext.status, 2)
        XCTAssertTrue(plaintext.stderr.contains("never speaks in the clear"), plaintext.stderr)
        let outbound = try run(["probe", "--outbound", "127.0.0.1:1", "--implicit-tls"])
        XCTAssertEqual(outbound.status, 2)
    }
}
