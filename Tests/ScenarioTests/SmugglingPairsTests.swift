import EndpointHosting
import Scenario
import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
import XCTest

/// SMTP smuggling as a property of pairs (issue 18): the library's sweep.pairs file run cell by
/// cell, the chain's judgement, and the relay's outbound side.
final class SmugglingPairsTests: XCTestCase {
    static let file = "smuggling-pairs-every-variant-through-every-relay-to-every-server.yaml"

    func load() throws -> Scenario {
        try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(Self.file).path)
    }

    /// Every cell passes (either side fixed is clean), and the cells that deliver a smuggled
    /// message are exactly the ones the RFC rules predict:
    /// - a pass-through relay × a server ending data at bare LF: LF.LF and LF.CRLF. CRLF.LF does
    ///   not survive: after CRLF the relay reads a line that starts with a dot and removes it
    ///   (RFC 5321 §4.5.2), so the server never sees it;
    /// - a relay that copies a BDAT chunk into DATA as it is: inside the chunk nothing is
    ///   unstuffed, so CRLF.LF also reaches the lenient server, and the real CRLF.CRLF ends the
    ///   data at every server, strict ones too;
    /// - nothing else, whatever the variant.
    func testTheMatrixSmugglesExactlyWhereNeitherSideIsFixed() throws {
        let scenario = try load()
        let pairs = try XCTUnwrap(scenario.sweep?.pairs)
        XCTAssertEqual(pairs.count, SmugglingVariant.allCases.count * 15 + 6, "every variant in every pair, the real end of data only with BDAT")
        var smuggled: [String] = []
        for seed in 1...UInt64(pairs.count) {
            let cell = try XCTUnwrap(pairs.cell(seed: seed))
            let report = try ScenarioRunner.run(scenario, seed: seed, trace: .forVerdicts)
            XCTAssertTrue(report.passed, "seed \(seed) \(cell.row.name) \(cell.column): \(report.failures)")
            if report.result.findings.contains(where: { $0.oracle == .smuggling }) {
                smuggled.append("\(cell.row.name) \(cell.column)")
                XCTAssertTrue(report.result.accepted.contains { $0.reversePath.description == "<\(SmugglingPairs.smuggledSender)>" },
                              "seed \(seed): the smuggled sender's message is what the server behind the relay accepted")
            }
        }
        XCTAssertEqual(smuggled.sorted(), [
            "crlf-dot-crlf bdat-to-data-without-restuffing → ends-at-bare-lf",
            "crlf-dot-crlf bdat-to-data-without-restuffing → strict",
            "crlf-dot-crlf bdat-to-data-without-restuffing → tolerant",
            "crlf-dot-lf bdat-to-data-without-restuffing → ends-at-bare-lf",
            "lf-dot-crlf bdat-to-data-without-restuffing → ends-at-bare-lf",
            "lf-dot-crlf passes-through → ends-at-bare-lf",
            "lf-dot-lf bdat-to-data-without-restuffing → ends-at-bare-lf",
            "lf-dot-lf passes-through → ends-at-bare-lf",
        ])
    }

    /// The claim the matrix checks can fail: a vulnerable pair judged as if a side were fixed.
    func testAFixedCellsExpectationsFailASmugglingRun() throws {
        let scenario = try load()
        let pairs = try XCTUnwrap(scenario.sweep?.pairs)
        let seed = try XCTUnwrap((1...UInt64(pairs.count)).first {
            let c = pairs.cell(seed: $0)!
            return c.row == .variant(.lfCRLF) && c.outbound == .passesThrough && c.inbound == .endsAtBareLF
        })
        let result = try ScenarioRunner.run(scenario, seed: seed, trace: .forVerdicts).result
        let fixed = SmugglingPairs.Cell(row: .variant(.lfCRLF), outbound: .normalises, inbound: .endsAtBareLF)
        XCTAssertTrue(fixed.mustBeClean)
        let failures = ScenarioRunner.check(fixed.expectations, result)
        XCTAssertTrue(failures.contains { $0.contains("smuggling") }, "\(failures)")
    }

    /// The relay's outbound side forwards every message once, those accepted while it delivers
    /// wait for the next connection, and the chain is judged end to end.
    func testTheRelayForwardsEveryClientsMessageOnce() throws {
        var config = SimulationConfiguration(seed: 3)
        config.relay = RelaySpec()
        config.relay!.client.configuration.serverName = config.server.configuration.hostname
        // The relay's deliveries take a while: the second and third messages arrive during its first.
        config.relay!.faults = [FaultRule(.latency(min: 5_000_000, max: 5_000_000))]
        config.clients = (0..<3).map { i in
            var spec = ClientSpec(messages: [OutgoingMessage(id: "m\(i)", from: .null, to: [.postmaster], body: Array("Subject: \(i)\r\n\r\nbody \(i)\r\n".utf8))])
            spec.configuration.serverName = RelaySpec.defaultHostname
            spec.connectAt = Int64(i) * 1_000_000
            return spec
        }
        let r = try World(configuration: config).run()
        XCTAssertEqual(r.findings, [], r.trace.text)
        XCTAssertEqual(r.outcomes.map(\.status), [.delivered, .delivered, .delivered])
        XCTAssertEqual(r.relayed.count, 3)
        XCTAssertEqual(r.accepted.map(\.body), r.relayed.map(\.body))
        XCTAssertEqual(r.forwarded.map(\.status), [.delivered, .delivered, .delivered])
        XCTAssertTrue(r.accepted.allSatisfy { $0.heloName == RelaySpec.defaultHostname }, "the server behind the relay sees the relay's EHLO")
        XCTAssertEqual(r.connections, 5, "three submissions; the first message alone, the two accepted during its delivery together")
    }

    /// A message the server behind the relay accepts twice without the relay retrying it is a
    /// duplicate the chain's judgement names, and one nobody sent is smuggling, not a count.
    func testTheChainNamesTheHopThatAccepted() throws {
        var scenario = try ScenarioLoader.load(path: ScenarioLibraryTests.folder
            .appendingPathComponent("relay-passing-bare-lf-to-a-server-ending-data-there-delivers-a-smuggled-message-and-is-caught.yaml").path)
        let report = try ScenarioRunner.run(scenario)
        XCTAssertTrue(report.passed, "\(report.failures)")
        let smuggling = try XCTUnwrap(report.result.findings.first { $0.oracle == .smuggling })
        XCTAssertEqual(smuggling.side, .server)
        XCTAssertTrue(smuggling.explanation.hasPrefix("the server behind the relay accepted a message no client sent"), smuggling.explanation)
        // Without the relay, the same attack on the lenient server is the single-hop finding.
        scenario.configuration.relay = nil
        scenario.configuration.clients[0].configuration.serverName = scenario.configuration.server.configuration.hostname
        let direct = try ScenarioRunner.run(scenario).result.findings
        XCTAssertTrue(direct.contains { $0.oracle == .transactionCount && $0.side == .server && $0.explanation.hasPrefix("the server accepted a message no client sent") }, "\(direct)")
        XCTAssertFalse(direct.contains { $0.oracle == .smuggling })
    }
}
