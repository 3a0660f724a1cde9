import Scenario
import SMTPClient
import SMTPServer
import Simulation
import XCTest

/// docs/catalog.md D1–D3 over the whole vocabulary: the library's injection sweep walks every
/// command injected behind STARTTLS × every reply injected behind the 220. The compliant pair
/// discards each and delivers; a server or a client that keeps what came before the handshake is
/// caught at every pair.
final class InjectionSweepTests: XCTestCase {
    static let name = "injections-of-every-command-and-reply-at-the-boundary-are-discarded.yaml"

    func load() throws -> Scenario {
        try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(Self.name).path)
    }

    func testEveryPairIsInjectedAndDiscarded() throws {
        let scenario = try load()
        let inject = try XCTUnwrap(scenario.sweep?.inject)
        XCTAssertEqual(inject.towardServer, InjectionVocabulary.commands)
        XCTAssertEqual(inject.towardClient, InjectionVocabulary.replies)
        var pairs: Set<[String]> = []
        for seed in 1...UInt64(inject.count) {
            let actions = inject.actions(seed: seed)
            pairs.insert(actions.map { "\($0)" })
            let report = try ScenarioRunner.run(scenario, seed: seed, trace: .always)
            XCTAssertTrue(report.passed, "seed \(seed) \(actions): \(report.failures)")
            let text = report.result.trace.text
            XCTAssertTrue(text.contains("discarded"), "seed \(seed) \(actions): nothing was discarded")
        }
        XCTAssertEqual(pairs.count, inject.count, "the seeds walk every pair once")
    }

    func testAServerThatKeepsInjectedCommandsIsCaughtAtEveryCommand() throws {
        var scenario = try load()
        scenario.configuration.server.configuration.flaws = [.keepsPlaintextAcrossStartTLS]
        let inject = try XCTUnwrap(scenario.sweep?.inject)
        for seed in 1...UInt64(inject.towardServer.count) {
            let findings = try ScenarioRunner.run(scenario, seed: seed).result.findings
            XCTAssertTrue(findings.contains { $0.oracle == .tlsBoundary }, "seed \(seed) \(inject.actions(seed: seed)): \(findings)")
        }
    }

    func testAClientThatKeepsInjectedRepliesIsCaughtAtEveryReply() throws {
        var scenario = try load()
        scenario.configuration.clients[0].configuration.flaws = [.keepsBufferedRepliesAcrossStartTLS]
        let inject = try XCTUnwrap(scenario.sweep?.inject)
        var missed: [String] = []
        for k in 0..<inject.towardClient.count {
            let seed = UInt64(k * inject.towardServer.count + 1)
            // A finding (it acted inside TLS on the kept reply), or, for a kept 421, which makes
            // it give up without another write, the message the compliant client delivers.
            let report = try ScenarioRunner.run(scenario, seed: seed)
            if report.passed { missed.append(inject.towardClient[k]) }
            if inject.towardClient[k].hasPrefix("421") {
                XCTAssertNotEqual(report.result.outcomes.map(\.status), [.delivered], "a kept 421 ends every attempt")
            } else {
                XCTAssertFalse(report.result.findings.isEmpty, "seed \(seed) \(inject.towardClient[k].debugDescription): no finding")
            }
        }
        XCTAssertEqual(missed, [], "replies the flawed client kept unnoticed")
    }
}
