import EndpointHosting
import Scenario
import SMTPCore
import Simulation
import XCTest

/// Implicit TLS (RFC 8314 §3) in the simulator: the handshake before the greeting, no STARTTLS
/// inside it, a client that never speaks in the clear, the loader's contradictions, the
/// attacker's actions that have no plaintext phase, and the phases inside TLS.
final class ImplicitTLSTests: XCTestCase {
    static let message = """
          messages:
            - from: alice@example.test
              to: [bob@example.net]
              body: "Subject: hi\\n\\nhello\\n"
        """

    func scenario(server: String, client: String, rest: String = "", expect: String = "findings: none") throws -> Scenario {
        let text = """
            version: 1
            name: implicit tls
            server:
              auth: {users: {alice: secret}}
            \(server.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            client:
              retries: {delay: 1m, max: 2}
            \(client.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            \(Self.message)
            \(rest)
            expect:
              \(expect)

            """
        return try ScenarioLoader.parse(text, file: "implicit.yaml")
    }

    func run(server: String, client: String, rest: String = "", expect: String = "findings: none") throws -> ScenarioReport {
        try ScenarioRunner.run(try scenario(server: server, client: client, rest: rest, expect: expect), trace: .always)
    }

    /// Lines of the trace that carry plaintext written before TLS (epoch 0) by `direction`.
    func clearWrites(_ r: ScenarioReport, _ direction: String) -> [String] {
        r.result.trace.text.split(separator: "\n").map(String.init).filter { $0.contains("\(direction) plaintext ") }
    }

    func testTheImplicitPairGreetsInsideTLSOffersNoStartTLSAndDelivers() throws {
        let r = try run(server: "security: implicit-tls", client: "security: implicit-tls\npolicy: required\nauth: {user: alice, password: secret}")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertEqual(r.result.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(r.result.accepted.map(\.overTLS), [true])
        XCTAssertEqual(r.result.accepted.map(\.authenticatedAs), ["alice"])
        // Not one octet in the clear either way; the first thing the server says is the greeting, inside TLS.
        XCTAssertEqual(clearWrites(r, "c>s") + clearWrites(r, "s>c"), [])
        let inside = r.result.trace.text.split(separator: "\n").filter { $0.contains("tls-plaintext") }
        XCTAssertTrue(inside.first?.contains("s>c tls-plaintext 220 mx.example.test") == true, inside.first.map(String.init) ?? "none")
        let capabilities = r.result.trace.text.split(separator: "\n").first { $0.contains("client capabilities:") }.map(String.init) ?? ""
        XCTAssertFalse(capabilities.contains("STARTTLS"), capabilities)
        XCTAssertTrue(capabilities.contains("AUTH"), "AUTH is offered inside TLS: \(capabilities)")
        XCTAssertFalse(r.result.trace.text.contains("command STARTTLS"))
    }

    /// The flaw that lists STARTTLS inside TLS lists it inside implicit TLS too; smtpsim's client,
    /// already in TLS, never sends it.
    func testAStartTLSOfferInsideImplicitTLSIsNotTakenUp() throws {
        let r = try run(server: "security: implicit-tls\nflaws: [advertises-starttls-after-tls]", client: "security: implicit-tls",
                        expect: "messages: [delivered]\n  findings: any")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertTrue(r.result.trace.text.contains("STARTTLS"), "the flawed server lists it")
        XCTAssertFalse(r.result.trace.text.contains("command STARTTLS"))
    }

    /// An implicit-TLS client that meets a server speaking SMTP in the clear (a STARTTLS port)
    /// sends nothing in the clear and defers with the RFC 8460 result a missing TLS has; the
    /// trace names the octets it met.
    func testAnImplicitClientMeetingAPlaintextGreetingSendsNothingInTheClear() throws {
        for policy in ["opportunistic", "required"] {
            let r = try run(server: "security: starttls", client: "security: implicit-tls\npolicy: \(policy)",
                            expect: "messages: [temporary-failure]\n  tls-result: starttls-not-supported\n  accepted: 0\n  findings: none")
            XCTAssertTrue(r.passed, "\(policy): " + r.failures.joined(separator: "\n"))
            XCTAssertEqual(clearWrites(r, "c>s"), [], policy)
            XCTAssertTrue(r.result.trace.text.contains("the peer spoke SMTP in the clear (220 mx.example.test"), policy)
            XCTAssertEqual(r.result.connections, 2, "both attempts with TLS, none without")
        }
    }

    /// A STARTTLS client that meets an implicit-TLS server waits for a greeting that never comes
    /// in the clear; the server lets the silent client go after its command timeout.
    func testAStartTLSClientMeetingAnImplicitServerTimesOutAndTheServerLetsGo() throws {
        let r = try run(server: "security: implicit-tls\ntimeouts: {command: 30s}", client: "security: starttls\ntimeouts: {greeting: 1m}",
                        expect: "messages: [temporary-failure]\n  findings: none")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertTrue(r.result.outcomes.first?.reason.contains("greeting") == true, r.result.outcomes.first?.reason ?? "")
        let lines = r.result.trace.text.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("30.000s #1 server closed") }, "the server closes at its 30 s command timeout")
    }

    /// A handshake that fails under implicit TLS defers; an opportunistic client does not retry in
    /// the clear (there is no clear to retry in, RFC 8314 §3).
    func testAFailedHandshakeUnderImplicitTLSNeverFallsBackToTheClear() throws {
        let r = try run(server: "security: implicit-tls", client: "security: implicit-tls\npolicy: opportunistic",
                        rest: "faults:\n  - fail-handshake: {class: protocol-version-mismatch}",
                        expect: "messages: [temporary-failure]\n  accepted: 0\n  findings: none")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertEqual(clearWrites(r, "c>s") + clearWrites(r, "s>c"), [])
    }

    /// An unverified certificate: a required client closes without a word inside TLS (no
    /// greeting came yet); an opportunistic one delivers without sending its credentials.
    func testTheCertificatePolicyHoldsUnderImplicitTLS() throws {
        let required = try run(server: "security: implicit-tls\ncertificate: expired", client: "security: implicit-tls\npolicy: required",
                               expect: "messages: [temporary-failure]\n  tls-result: certificate-expired\n  accepted: 0\n  findings: none")
        XCTAssertTrue(required.passed, required.failures.joined(separator: "\n"))
        XCTAssertFalse(required.result.trace.text.contains("c>s tls-plaintext"), "nothing said inside an unverified session")
        let opportunistic = try run(server: "security: implicit-tls\ncertificate: self-signed",
                                    client: "security: implicit-tls\npolicy: opportunistic\nauth: {user: alice, password: secret}",
                                    expect: "messages: [delivered]\n  findings: none")
        XCTAssertTrue(opportunistic.passed, opportunistic.failures.joined(separator: "\n"))
        XCTAssertEqual(opportunistic.result.accepted.map(\.authenticatedAs), [nil])
        XCTAssertFalse(opportunistic.result.trace.text.contains("command AUTH"))
    }

    /// A scripted server under implicit TLS starts TLS before its first step.
    func testAScriptedServerUnderImplicitTLSStartsTLSFirst() throws {
        let script = """
            security: implicit-tls
            script:
              - send-line: "220 scripted ESMTP"
              - expect: EHLO
              - send-line: "250 scripted"
              - expect: QUIT
              - close
            """
        XCTAssertEqual(try scenario(server: script, client: "security: implicit-tls").serverScript?.first, .startTLS)
        let client = try ScenarioLoader.parse("version: 1\nname: s\nclient:\n  security: implicit-tls\n  script: [{expect: \"220\"}]\n", file: "s.yaml")
        XCTAssertEqual(client.clientScripts.first??.first, .startTLS, "a scripted client under implicit TLS starts TLS first")
        let r = try run(server: script, client: "security: implicit-tls", expect: "messages: [temporary-failure]\n  findings: any")
        XCTAssertTrue(r.result.trace.text.contains("s>c tls-plaintext 220 scripted ESMTP"), r.result.trace.text)
        XCTAssertEqual(clearWrites(r, "s>c"), [])
    }

    /// Each relay hop has its own security: the clients submit over STARTTLS, the relay forwards
    /// over implicit TLS; the attacker on the second hop finds no plaintext phase there.
    func testARelayHopUnderImplicitTLS() throws {
        let relay = """
            relay:
              client: {security: implicit-tls, policy: required}
              attacker:
                - strip-starttls: {mode: delete}
            """
        let r = try run(server: "security: implicit-tls", client: "security: starttls\npolicy: required", rest: relay,
                        expect: "messages: [delivered]\n  accepted: 1\n  relayed: 1\n  not-applicable: [strip-starttls]\n  findings: none")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertTrue(r.result.trace.text.contains("command STARTTLS"), "the first hop upgrades")
        XCTAssertEqual(r.result.accepted.map(\.overTLS), [true])
    }

    // MARK: - The loader

    func testContradictoryKeysAreLoaderErrors() throws {
        let cases: [(server: String, client: String, says: String)] = [
            ("security: implicit-tls\ntls-available: false", "policy: required", "'tls-available' contradicts 'security: implicit-tls'"),
            ("security: implicit-tls\nrequire-tls: true", "policy: required", "'require-tls' contradicts 'security: implicit-tls'"),
            ("security: implicit-tls\nextensions: [PIPELINING, STARTTLS]", "policy: required", "'extensions' contradicts 'security: implicit-tls'"),
            ("security: none\ntls-available: true", "policy: plaintext", "'tls-available' contradicts 'security: none'"),
            ("security: none\nrequire-tls: true", "policy: plaintext", "'require-tls' contradicts 'security: none'"),
            ("security: none\nextensions: [STARTTLS]", "policy: plaintext", "'extensions' contradicts 'security: none'"),
            ("security: starttls\ntls-available: false", "policy: required", "'tls-available' contradicts 'security: starttls'"),
            ("security: starttls\nextensions: [PIPELINING]", "policy: required", "'extensions' contradicts 'security: starttls'"),
            ("", "security: implicit-tls\npolicy: plaintext", "'policy' contradicts 'security: implicit-tls'"),
            ("", "security: implicit-tls\npolicy: opportunistic\nplaintext-retry-after-tls-failure: true",
             "'plaintext-retry-after-tls-failure' contradicts 'security: implicit-tls'"),
            ("", "security: none\npolicy: required", "'policy' contradicts 'security: none'"),
            ("", "security: starttls\npolicy: plaintext", "'policy' contradicts 'security: starttls'"),
            ("security: implicit", "policy: required", "unknown value 'implicit'"),
        ]
        for c in cases {
            do {
                _ = try scenario(server: c.server, client: c.client)
                XCTFail("loaded: \(c)")
            } catch {
                XCTAssertTrue("\(error)".contains(c.says), "\(c): \(error)")
            }
        }
        // What the keys say when they agree.
        let none = try scenario(server: "security: none", client: "security: none")
        XCTAssertFalse(none.configuration.server.configuration.tlsAvailable)
        XCTAssertFalse(none.configuration.server.configuration.extensionsBeforeTLS.contains(.startTLS))
        XCTAssertEqual(none.configuration.clients[0].configuration.policy, .plaintext)
        let implicit = try scenario(server: "security: implicit-tls", client: "security: implicit-tls")
        XCTAssertTrue(implicit.configuration.server.configuration.implicitTLS)
        XCTAssertTrue(implicit.configuration.clients[0].configuration.implicitTLS)
        let plain = try run(server: "security: none", client: "security: none", expect: "messages: [delivered]\n  over-tls: false\n  findings: none")
        XCTAssertTrue(plain.passed, plain.failures.joined(separator: "\n"))
    }

    // MARK: - The attacker

    /// Actions that need a plaintext phase report "not applicable" under implicit TLS, and the
    /// run fails unless the file expects it; an action that did apply cannot be claimed so.
    func testPlaintextPhaseAttacksAreNotApplicableAndNeverPassSilently() throws {
        let attacker = "attacker:\n  - strip-starttls: {mode: delete}\n  - inject-to-server: {bytes: \"RSET\\r\\n\", same-segment: true}"
        let silent = try run(server: "security: implicit-tls", client: "security: implicit-tls", rest: attacker, expect: "messages: [delivered]")
        XCTAssertFalse(silent.passed)
        XCTAssertEqual(silent.failures.filter { $0.contains("not applicable") }.count, 2, silent.failures.joined(separator: "\n"))
        XCTAssertEqual(silent.result.attacksNotApplicable, ["strip-starttls", "inject-to-server"])
        XCTAssertTrue(silent.result.trace.text.contains("ATTACK strip-starttls: not applicable"))
        let said = try run(server: "security: implicit-tls", client: "security: implicit-tls", rest: attacker,
                           expect: "messages: [delivered]\n  not-applicable: [strip-starttls, inject-to-server]\n  findings: none")
        XCTAssertTrue(said.passed, said.failures.joined(separator: "\n"))
        // Under STARTTLS the same actions apply: claiming otherwise fails.
        let applied = try run(server: "security: starttls", client: "security: starttls\npolicy: opportunistic", rest: attacker,
                              expect: "not-applicable: [strip-starttls]\n  findings: any")
        XCTAssertEqual(applied.failures, ["not-applicable: expected attacker strip-starttls to find no plaintext phase, but it had one"])
        XCTAssertThrowsError(try scenario(server: "", client: "", expect: "not-applicable: [intercept-tls]")) { error in
            XCTAssertTrue("\(error)".contains("applies to implicit TLS too"), "\(error)")
        }
    }

    /// Interception needs no plaintext phase: it applies to implicit TLS, and a verifying client refuses it.
    func testInterceptionAppliesToImplicitTLS() throws {
        let r = try run(server: "security: implicit-tls", client: "security: implicit-tls\npolicy: required", rest: "attacker:\n  - intercept-tls",
                        expect: "messages: [temporary-failure]\n  tls-result: certificate-not-trusted\n  accepted: 0\n  findings: none")
        XCTAssertTrue(r.passed, r.failures.joined(separator: "\n"))
        XCTAssertTrue(r.result.trace.text.contains("ATTACK intercept-tls: terminating the client's TLS"))
    }

    // MARK: - Phases and faults

    /// The greeting phases inside TLS strike under implicit TLS (and never under STARTTLS, whose
    /// greeting is in the clear); a reset mid-handshake is retried.
    func testFaultsStrikeAtThePhasesOfImplicitTLS() throws {
        for phase in ["mid-greeting-in-tls", "after-greeting-in-tls", "mid-handshake", "before-greeting", "mid-post-tls-ehlo-reply", "after-final-dot"] {
            let r = try run(server: "security: implicit-tls", client: "security: implicit-tls\npolicy: required",
                            rest: "faults:\n  - reset: {at: \(phase), connections: [1]}",
                            expect: "messages: [delivered]\n  duplicates: at-most-one\n  findings: none")
            XCTAssertTrue(r.passed, "\(phase): " + r.failures.joined(separator: "\n"))
            XCTAssertEqual(r.result.connections, 2, "\(phase): the reset struck on the first connection")
        }
        let starttls = try run(server: "", client: "policy: required", rest: "faults:\n  - reset: {at: mid-greeting-in-tls, connections: [1]}",
                               expect: "messages: [delivered]\n  findings: none")
        XCTAssertEqual(starttls.result.connections, 1, "no greeting inside TLS under STARTTLS")
        // The cut is inside the greeting: the client read its code and no more.
        let mid = try run(server: "security: implicit-tls", client: "security: implicit-tls", rest: "faults:\n  - reset: {at: mid-greeting-in-tls, connections: [1]}",
                          expect: "messages: [delivered]")
        XCTAssertTrue(mid.result.trace.text.contains("s>c read 3B [tls] 220"), mid.result.trace.text)
    }

    /// No false TLS-boundary finding: under implicit TLS the server's greeting is the first write
    /// inside TLS, as it must be.
    func testTheGreetingInsideTLSIsNoBoundaryFinding() {
        var judge = SessionJudge(judged: .server)
        XCTAssertNil(judge.boundary(Array("220 mx ESMTP\r\n".utf8), by: .server, epoch: 1, commands: 0))
        var starttls = SessionJudge(judged: .server)
        _ = starttls.boundary(Array("220 mx ESMTP\r\n".utf8), by: .server, epoch: 0, commands: 0)
        XCTAssertNotNil(starttls.boundary(Array("250 ok\r\n".utf8), by: .server, epoch: 1, commands: 0), "under STARTTLS it still is")
    }

    /// The judge of an implicit-TLS client charges SMTP written in the clear, never a ClientHello.
    func testAnImplicitClientWritingSMTPInTheClearIsCharged() {
        var judge = SessionJudge(judged: .client)
        judge.implicitTLS = true
        XCTAssertEqual(judge.wrote([0x16, 0x03, 0x01, 0x00, 0x05], by: .client, .init(epoch: 0), step: nil), [])
        let verdicts = judge.wrote(Array("EHLO c.test\r\n".utf8), by: .client, .init(epoch: 0), step: nil)
        XCTAssertEqual(verdicts.map(\.oracle), [.plaintextExposure])
        XCTAssertTrue(verdicts.first?.explanation.contains("configured for implicit TLS, sent EHLO c.test in the clear") == true, verdicts.first?.explanation ?? "")
        var starttls = SessionJudge(judged: .client)
        XCTAssertEqual(starttls.wrote(Array("EHLO c.test\r\n".utf8), by: .client, .init(epoch: 0), step: nil), [])
    }
}

/// The comparison file: the same attacks on the same flawed pair over STARTTLS and over
/// implicit TLS (README "What implicit TLS removes").
final class SecurityComparisonTests: XCTestCase {
    static let file = "attacks-on-starttls-find-no-plaintext-phase-under-implicit-tls.yaml"

    func testEachAttackIsCaughtOverSTARTTLSAndNotApplicableOverImplicitTLS() throws {
        let scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(Self.file).path)
        let table = try XCTUnwrap(scenario.sweep?.compare)
        XCTAssertEqual(scenario.sweep?.cellCount, 14)
        var seen: [String: [String]] = [:]
        for seed in 1...UInt64(table.count) {
            let cell = try XCTUnwrap(table.cell(seed: seed))
            let report = try ScenarioRunner.run(scenario, seed: seed)
            XCTAssertTrue(report.passed, "seed \(seed) \(cell.attack.name) over \(cell.security.rawValue): \(report.failures)")
            let oracles = Array(Set(report.result.findings.map(\.oracle.rawValue))).sorted()
            seen["\(cell.attack.name) \(cell.security.rawValue)"] = cell.notApplicable ? ["n/a"] + report.result.attacksNotApplicable + oracles : oracles
        }
        XCTAssertEqual(seen, [
            "strip-starttls starttls": ["plaintext-exposure"], "strip-starttls implicit-tls": ["n/a", "strip-starttls"],
            "replace-starttls-reply starttls": ["plaintext-exposure"], "replace-starttls-reply implicit-tls": ["n/a", "replace-starttls-reply"],
            "inject-to-server starttls": ["tls-boundary"], "inject-to-server implicit-tls": ["n/a", "inject-to-server"],
            "inject-to-client starttls": ["tls-boundary"], "inject-to-client implicit-tls": ["n/a", "inject-to-client"],
            "tamper-capabilities starttls": ["state-reset"], "tamper-capabilities implicit-tls": ["n/a", "tamper-capabilities"],
            "intercept-tls starttls": [], "intercept-tls implicit-tls": [],
            "plaintext-after-tls starttls": [], "plaintext-after-tls implicit-tls": [],
        ])
    }

    /// A cell whose attack is not applicable must say so, find nothing and deliver: a pair that
    /// cannot deliver over implicit TLS fails it.
    func testANotApplicableCellStillHasToDeliver() throws {
        var scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(Self.file).path)
        scenario.configuration.server.certificate = .expired
        let report = try ScenarioRunner.run(scenario, seed: 2)  // strip-starttls over implicit TLS
        XCTAssertFalse(report.passed)
        XCTAssertTrue(report.failures.contains { $0.contains("delivered") }, "\(report.failures)")
    }

    /// An attack's own `findings` judge its cells where it applies: without the server flaw the
    /// injection over STARTTLS finds nothing, and that cell fails.
    func testAnAttacksFindingsJudgeItsCells() throws {
        var scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(Self.file).path)
        scenario.configuration.server.configuration.flaws = []
        let report = try ScenarioRunner.run(scenario, seed: 5)  // inject-to-server over STARTTLS
        XCTAssertEqual(scenario.sweep?.compare?.cell(seed: 5)?.attack.kind, .injectToServer)
        XCTAssertFalse(report.passed)
        XCTAssertTrue(report.failures.contains { $0.contains("tls-boundary") }, "\(report.failures)")
        XCTAssertTrue(try ScenarioRunner.run(scenario, seed: 6).passed, "over implicit TLS it is n/a either way")
    }

    func testTheComparisonIsOneTableWithEachSecurityOnce() {
        let base = """
            version: 1
            name: t
            client:
              messages: [{from: a@example.test, to: b@example.net, body: x}]
            sweep:

            """
        for (sweep, says) in [("  compare: {attacks: [intercept-tls], security: [starttls, starttls]}", "each security once"),
                              ("  compare: {attacks: []}", "at least one attack"),
                              ("  compare: {attacks: [intercept-tls]}\n  replies: {to: [MAIL]}", "one table per sweep")] {
            XCTAssertThrowsError(try ScenarioLoader.parse(base + sweep, file: "t.yaml")) { XCTAssertTrue("\($0)".contains(says), "\($0)") }
        }
        let none = try? ScenarioLoader.parse(base + "  compare: {attacks: [strip-starttls], security: [none]}", file: "t.yaml")
        XCTAssertEqual(none?.sweep?.compare?.securities, [ConnectionSecurity.none])
    }
}
