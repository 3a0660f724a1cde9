import Scenario
import SMTPClient
import SMTPCore
import SMTPServer
import TestSupport
import Simulation
import XCTest

final class ScenarioLoaderTests: XCTestCase {
    let valid = """
        version: 1
        name: a test
        server:
          certificate: expired
        client:
          policy: required
          messages:
            - from: a@example.test
              to: b@example.net
              body: hi
        expect:
          messages: [temporary-failure]
          tls-result: certificate-expired
        """

    private func error(_ text: String) -> ScenarioError? {
        do {
            _ = try ScenarioLoader.parse(text, file: "t.yaml")
            return nil
        } catch {
            return error
        }
    }

    func testValidFileRunsAndPasses() throws {
        let s = try ScenarioLoader.parse(valid, file: "t.yaml")
        XCTAssertEqual(s.configuration.server.certificate, .expired)
        XCTAssertEqual(s.configuration.clients.first?.messages.first?.body, Array("hi".utf8))
        XCTAssertTrue(try ScenarioRunner.run(s).passed)
    }

    func testMisspeltKeyGetsPositionPathAndSuggestion() throws {
        let e = try XCTUnwrap(error(valid.replacingOccurrences(of: "  certificate: expired", with: "  certifcate: expired")))
        XCTAssertEqual(e.line, 4)
        XCTAssertEqual(e.column, 3)
        XCTAssertEqual(e.keyPath, "server.certifcate")
        XCTAssertEqual(e.suggestion, "certificate")
        XCTAssertTrue(e.description.hasPrefix("t.yaml:4:3: server.certifcate: unknown key"), e.description)
    }

    func testUnknownValueGetsSuggestion() throws {
        let e = try XCTUnwrap(error(valid.replacingOccurrences(of: "policy: required", with: "policy: requried")))
        XCTAssertEqual(e.keyPath, "client.policy")
        XCTAssertEqual(e.suggestion, "required")
        let f = try XCTUnwrap(error(valid.replacingOccurrences(of: "certificate: expired", with: "certificate: expird")))
        XCTAssertEqual(f.suggestion, "expired")
    }

    func testWrongTypesAndMissingKeys() throws {
        XCTAssertEqual(try XCTUnwrap(error(valid.replacingOccurrences(of: "version: 1", with: "version: one"))).keyPath, "version")
        XCTAssertTrue(try XCTUnwrap(error(valid.replacingOccurrences(of: "version: 1", with: "version: 2"))).message.contains("unsupported version"))
        XCTAssertTrue(try XCTUnwrap(error("version: 1\nclient: {messages: []}\n")).message.contains("missing required key 'name'"))
        XCTAssertTrue(try XCTUnwrap(error(valid.replacingOccurrences(of: "to: b@example.net", with: "to: not-an-address"))).message.contains("not a mailbox"))
        XCTAssertEqual(try XCTUnwrap(error(valid + "\nfaults:\n  - reset: {at: after-mial}\n")).suggestion, "after-mail")
        XCTAssertTrue(try XCTUnwrap(error(valid + "\nfaults:\n  - stall: {for: tenminutes, at: after-mail}\n")).message.contains("duration"))
        XCTAssertTrue(try XCTUnwrap(error(valid + "\nfaults:\n  - reset\n")).message.contains("needs at"))
        XCTAssertTrue(try XCTUnwrap(error(valid + "\nattacker:\n  - strip-starttls: {mode: sideways}\n")).message.contains("unknown value"))
    }

    func testRulesAreReadAndEveryMistakeSaysWhere() throws {
        let rules = valid.replacingOccurrences(of: "  certificate: expired", with: """
              certificate: expired
              rules:
                - {at: rcpt, pattern: "RCPT TO:<*@x.test>", nth: 2, tls: true, in-transaction: true, probability: 1/4, reply: "550 no\\r\\n"}
                - {at: greeting, reply: ["554-a", "554 b"], close: true}
                - {at: end-of-data, silent: true, act: true}
            """).replacingOccurrences(of: "  policy: required", with: """
              policy: required
              pipelining: always
              skip-quit: true
              rules:
                - {code: "25", after: end-of-data, pattern: "250 *queued*", send: "NOOP\\r\\n", close: true}
            """)
        let s = try ScenarioLoader.parse(rules, file: "t.yaml")
        let server = s.configuration.server.configuration.rules
        XCTAssertEqual(server.map(\.on), [.verb("RCPT"), .greeting, .endOfData])
        XCTAssertEqual(server[0].condition, RuleCondition(nth: 2, tls: true, probability: Ratio(1, 4)))
        XCTAssertEqual(server[0].reply?.lines, ["550 no"])
        XCTAssertEqual(server[0].inTransaction, true)
        XCTAssertFalse(server[0].acts, "a 5yz does not act")
        XCTAssertEqual(server[1].reply?.lines, ["554-a", "554 b"])
        XCTAssertTrue(server[1].close)
        XCTAssertNil(server[2].reply)
        XCTAssertTrue(server[2].acts)
        let client = s.configuration.clients[0].configuration
        XCTAssertTrue(client.pipelinesRegardless && client.skipsQuit)
        XCTAssertEqual(client.rules, [ClientRule(code: "25", pattern: TextPattern("250 *queued*"), answering: .endOfData, send: Array("NOOP\r\n".utf8), close: true)])

        func mistake(_ rule: String, server: Bool = true) -> ScenarioError? {
            error(server ? valid.replacingOccurrences(of: "  certificate: expired", with: "  certificate: expired\n  rules:\n    - \(rule)")
                         : valid.replacingOccurrences(of: "  policy: required", with: "  policy: required\n  rules:\n    - \(rule)"))
        }
        XCTAssertTrue(try XCTUnwrap(mistake("{at: RCPT}")).message.contains("needs a 'reply'"))
        XCTAssertTrue(try XCTUnwrap(mistake("{at: RCPT, reply: '550 no', silent: true}")).message.contains("not both"))
        XCTAssertEqual(try XCTUnwrap(mistake("{at: greting, reply: '554 no'}")).message.contains("unknown trigger"), true)
        XCTAssertEqual(try XCTUnwrap(mistake("{at: greting, reply: '554 no'}")).suggestion, "greeting")
        XCTAssertTrue(try XCTUnwrap(mistake("{at: greeting, pattern: 'x*', reply: '554 no'}")).message.contains("pattern matches command lines"))
        XCTAssertEqual(try XCTUnwrap(mistake("{at: RCPT, reply: '550 no', nth: 0}")).keyPath, "server.rules[0].nth")
        XCTAssertTrue(try XCTUnwrap(mistake("{at: RCPT, reply: '550 no', probability: half}")).message.contains("probability"))
        XCTAssertTrue(try XCTUnwrap(mistake("{at: RCPT, reply: \"550 a\\rb\"}")).message.contains("bare CR or LF"))
        XCTAssertTrue(try XCTUnwrap(mistake("{code: '2x0', send: 'x'}", server: false)).message.contains("reply code"))
        XCTAssertEqual(try XCTUnwrap(mistake("{after: MIAL, send: 'x'}", server: false)).suggestion, "MAIL")
        XCTAssertTrue(try XCTUnwrap(mistake("{code: '250'}", server: false)).message.contains("needs 'send'"))
        XCTAssertTrue(try XCTUnwrap(error(valid.replacingOccurrences(of: "  certificate: expired", with: "  rules: [{at: NOOP, reply: '250 ok'}]\n  script: [close]"))).message.contains("one or the other"))
    }

    func testTheFaultServerExampleLoadsAndPasses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/examples/fault-server.yaml").path
        let s = try ScenarioLoader.load(path: path)
        XCTAssertEqual(s.configuration.server.configuration.rules.first?.connections, ["C1"])
        XCTAssertTrue(try ScenarioRunner.run(s).passed)
    }

    func testYAMLSyntaxAndEmptyFiles() throws {
        let e = try XCTUnwrap(error("version: 1\nname: [unclosed\n"))
        XCTAssertNotNil(e.line)
        XCTAssertTrue(e.message.hasPrefix("YAML syntax"))
        XCTAssertEqual(try XCTUnwrap(error("")).message, "the file is empty")
        XCTAssertNotNil(error("just a string"))
    }

    /// Issue 27: each of these once exited 2 with no line:column.
    func testADuplicateKeyRandomOctetsAndANonUTF8FileSayWhere() throws {
        let dup = try XCTUnwrap(error("version: 1\nname: a\nname: b\n"))
        XCTAssertEqual([dup.line, dup.column], [3, 1], dup.description)
        XCTAssertEqual(dup.message, "key 'name' given twice")
        let nested = try XCTUnwrap(error(valid.replacingOccurrences(of: "  policy: required", with: "  policy: required\n  policy: opportunistic")))
        XCTAssertEqual(nested.line, 7, nested.description)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-loader-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func load(_ bytes: [UInt8]) throws -> ScenarioError {
            let path = folder.appendingPathComponent("x.yaml").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try ScenarioLoader.load(path: path)
                throw XCTSkip("loaded")
            } catch let e as ScenarioError {
                return e
            }
        }
        let latin1 = try load(Array("version: 1\nname: caf".utf8) + [0xE9] + Array("\n".utf8))
        XCTAssertEqual([latin1.line, latin1.column], [2, 10], latin1.description)
        XCTAssertTrue(latin1.message.contains("not UTF-8: the octet 0xE9"), latin1.message)
        var rng = SplitMix64(seed: 27)
        for _ in 0..<50 {
            let random = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let e = try load(random)
            XCTAssertNotNil(e.line, e.description)
            XCTAssertNotNil(e.column, e.description)
        }
        let control = try load(Array("version: 1\nname: x".utf8) + [0x01] + Array("y\n".utf8))
        XCTAssertEqual([control.line, control.column], [2, 8], control.description)
    }

    /// A misspelt verb was once taken as an extension's; now only known verbs, local (X…) ones and
    /// declared ones are, and the closest verb is suggested.
    func testAMisspeltVerbIsAnErrorAndExtensionsAreDeclared() throws {
        func rule(_ at: String) -> String { valid.replacingOccurrences(of: "  certificate: expired", with: "  rules:\n    - {at: \(at), reply: '550 no'}") }
        let typo = try XCTUnwrap(error(rule("RCTP")))
        XCTAssertTrue(typo.message.contains("unknown trigger 'RCTP'"), typo.message)
        XCTAssertEqual(typo.suggestion, "RCPT")
        XCTAssertNotNil(typo.line)
        XCTAssertEqual(try ScenarioLoader.parse(rule("XCLIENT"), file: "t.yaml").configuration.server.configuration.rules.first?.on, .verb("XCLIENT"))
        XCTAssertEqual(try ScenarioLoader.parse(rule("etrn"), file: "t.yaml").configuration.server.configuration.rules.first?.on, .verb("ETRN"))
        XCTAssertEqual(try ScenarioLoader.parse(rule("{extension: FOO}"), file: "t.yaml").configuration.server.configuration.rules.first?.on, .verb("FOO"))
        XCTAssertNotNil(error(rule("{extension: foo}")))
        XCTAssertNotNil(error(rule("FOO")), "an undeclared extension verb")
    }

    func testMutatedFilesNeverCrashAndEveryErrorSaysWhere() {
        // Random single-byte edits of a valid file: every outcome is a scenario or an error that
        // names file:line:column and the key path (a YAML syntax error has no key path yet).
        var rng = SplitMix64(seed: 17)
        var errors = 0
        var loaded = 0
        let bytes = Array(valid.utf8)
        let alphabet = Array(" :-[]{}\n\"'#&*!|>%@`x1".utf8)
        for _ in 0..<400 {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<mutated.count, using: &rng)
                mutated[i] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            }
            let text = String(decoding: mutated, as: UTF8.self)
            do {
                _ = try ScenarioLoader.parse(text, file: "m.yaml")
                loaded += 1
            } catch {
                errors += 1
                let place = "\(error) for:\n\(text)"
                XCTAssertEqual(error.file, "m.yaml", place)
                XCTAssertNotNil(error.line, place)
                XCTAssertNotNil(error.column, place)
                XCTAssertTrue(!error.keyPath.isEmpty || error.message.hasPrefix("YAML syntax"), place)
                XCTAssertTrue(error.description.hasPrefix("m.yaml:\(error.line ?? 0):\(error.column ?? 0): "), place)
            }
        }
        XCTAssertGreaterThan(errors, 100, "the edits must break files")
        XCTAssertGreaterThan(loaded, 10, "and leave some valid")
    }

    func testOccurrenceLoadsWritesAndNeedsATrigger() throws {
        let s = try ScenarioLoader.parse(valid + "\nfaults:\n  - reset: {at: mid-body, occurrence: 2, connections: [1]}\n", file: "t.yaml")
        let rule = try XCTUnwrap(s.configuration.faults.first)
        XCTAssertEqual(rule.occurrence, 2)
        XCTAssertEqual(rule.description, "{reset: {at: mid-body, occurrence: 2, connections: [1]}}")
        let e = try XCTUnwrap(error(valid + "\nfaults:\n  - reset: {occurrence: 2}\n"))
        XCTAssertEqual(e.keyPath, "faults[0].reset.occurrence")
        XCTAssertTrue(e.message.contains("give at as well"), e.message)
    }
}
