import EndpointHosting
import Foundation
import SMTPClient
import SMTPServer
import Scenario
import Simulation
import XCTest

/// The scenario library (Scenarios/): every file loads and passes against smtpsim's compliant
/// machines; every flaw profile is exercised by a scenario that expects its finding, and the
/// same scenario without the flaw loses that finding (both directions, issue 6).
final class ScenarioLibraryTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scenarios")

    static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted().map { folder.appendingPathComponent($0).path }
    }

    func testLibraryIsLargeAndEveryScenarioPasses() throws {
        let files = try Self.files()
        XCTAssertGreaterThanOrEqual(files.count, 40)
        for file in files {
            let scenario = try ScenarioLoader.load(path: file)
            let report = try ScenarioRunner.run(scenario)
            XCTAssertTrue(report.passed, "\(file): \(report.failures)")
        }
    }

    func testEveryFlawIsCaughtAndOnlyBecauseOfTheFlaw() throws {
        var serverFlawsSeen = Set<ServerFlaw>()
        var clientFlawsSeen = Set<ClientFlaw>()
        for file in try Self.files() {
            let scenario = try ScenarioLoader.load(path: file)
            let serverFlaws = scenario.configuration.server.configuration.flaws
            // The relay's outbound side is a client too.
            let clientFlaws = (scenario.configuration.clients + (scenario.configuration.relay.map { [$0.client] } ?? []))
                .reduce(into: Set<ClientFlaw>()) { $0.formUnion($1.configuration.flaws) }
            guard !serverFlaws.isEmpty || !clientFlaws.isEmpty else { continue }
            serverFlawsSeen.formUnion(serverFlaws)
            clientFlawsSeen.formUnion(clientFlaws)
            // What is expected, as (side, oracle) pairs; a list names no side.
            let expected: Set<String>
            switch scenario.expectations.findings {
            case .exactly(let oracles): expected = Set(oracles.map(\.rawValue))
            case .bySide(let client, let server, let run):
                expected = Set(client.map { "client \($0.rawValue)" } + server.map { "server \($0.rawValue)" } + run.map { "run \($0.rawValue)" })
            case .none, .any, .within:
                XCTFail("\(file): a flawed scenario must name the findings it expects")
                continue
            }
            var compliant = scenario
            compliant.configuration.server.configuration.flaws = []
            for i in compliant.configuration.clients.indices { compliant.configuration.clients[i].configuration.flaws = [] }
            compliant.configuration.relay?.client.configuration.flaws = []
            let found = try ScenarioRunner.run(compliant).result.findings
            let without = Set(found.map { f in
                if case .bySide = scenario.expectations.findings { return "\(f.side?.rawValue ?? "run") \(f.oracle.rawValue)" }
                return f.oracle.rawValue
            })
            // A chain whose fixed side neutralises the other's flaw shows that by finding the same
            // without it (its twin with neither side fixed is caught: relay-passing-… and the
            // sweep.pairs matrix, SmugglingPairsTests).
            if scenario.configuration.relay != nil, without == expected, !expected.contains(where: { $0.hasPrefix("server") || $0.hasPrefix("run") }) { continue }
            XCTAssertTrue(without.isStrictSubset(of: expected), "\(file): without its flaws it found \(without), with them \(expected)")
        }
        XCTAssertEqual(serverFlawsSeen, Set(ServerFlaw.allCases), "every server flaw has a scenario")
        XCTAssertEqual(clientFlawsSeen, Set(ClientFlaw.allCases), "every client flaw has a scenario")
    }

    func testScenariosAreDeterministic() throws {
        let file = Self.folder.appendingPathComponent("reset-after-the-final-dot-may-duplicate-but-never-loses.yaml").path
        let scenario = try ScenarioLoader.load(path: file)
        XCTAssertEqual(try ScenarioRunner.run(scenario).result.digest, try ScenarioRunner.run(scenario).result.digest)
        XCTAssertNotEqual(try ScenarioRunner.run(scenario, seed: 1).result.digest, try ScenarioRunner.run(scenario, seed: 2).result.digest)
    }
}

/// The JSON Schema in docs/ accepts every file of the library (checked with Python's jsonschema,
/// which .ci/run installs).
final class ScenarioSchemaTests: XCTestCase {
    func testSchemaAcceptsTheLibrary() throws {
        let root = ScenarioLibraryTests.folder.deletingLastPathComponent()
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import jsonschema, yaml"]
        probe.standardError = Pipe()
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { throw XCTSkip("python3 with jsonschema and pyyaml is not installed (.ci/run installs them)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("scripts/validate-scenarios.py").path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains(", 0 invalid"), text)
    }
}

/// The JSON Schema in docs/ names exactly the fault kinds, attacker actions and phases of the
/// tables the loader reads (`FaultKind`, `AttackKind`, `ProtocolPhase`).
final class ScenarioSchemaVocabularyTests: XCTestCase {
    func testTheSchemaNamesEveryFaultActionAndPhaseOfTheTables() throws {
        let url = ScenarioLibraryTests.folder.deletingLastPathComponent().appendingPathComponent("docs/scenario.schema.json")
        let schema = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let properties = try XCTUnwrap(schema["properties"] as? [String: Any])
        func kinds(_ key: String) throws -> Set<String> {
            let items = try XCTUnwrap(((properties[key] as? [String: Any])?["items"] as? [String: Any])?["oneOf"] as? [[String: Any]], key)
            var names = Set<String>()
            for item in items {
                for name in (item["required"] as? [String]) ?? [] { names.insert(name) }
                for name in (item["enum"] as? [String]) ?? [] { names.insert(name) }
            }
            return names
        }
        XCTAssertEqual(try kinds("faults"), Set(FaultKind.allCases.map(\.rawValue)))
        XCTAssertEqual(try kinds("attacker"), Set(AttackKind.allCases.map(\.rawValue)))
        // Every phase the loader takes is an `at` value the schema allows, and no other.
        let text = try String(contentsOf: url, encoding: .utf8)
        for phase in ProtocolPhase.allCases { XCTAssertTrue(text.contains("\"\(phase.rawValue)\""), phase.rawValue) }
    }
}
