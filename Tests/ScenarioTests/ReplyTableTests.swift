import Scenario
import SMTPClient
import SMTPServer
import Simulation
import XCTest

/// The library's reply tables (sweep.replies): every command × every reply class from a server
/// rule. The compliant client is clean in every cell; a client that falls back to plaintext is
/// caught exactly where a reply takes STARTTLS away (issue 15).
final class ReplyTableTests: XCTestCase {
    static let tables = ["every-reply-class-to-every-command-leaves-the-compliant-client-clean.yaml",
                         "every-reply-class-to-every-bdat-command-leaves-the-compliant-client-clean.yaml"]

    func load(_ name: String) throws -> Scenario {
        try ScenarioLoader.load(path: ScenarioLibraryTests.folder.appendingPathComponent(name).path)
    }

    func testTheCompliantClientIsCleanInEveryCell() throws {
        for name in Self.tables {
            let scenario = try load(name)
            let table = try XCTUnwrap(scenario.sweep?.replies)
            XCTAssertEqual(table.columns, ReplyTable.classes)
            var cells = Set<String>()
            for seed in 1...UInt64(table.count) {
                let rule = try XCTUnwrap(table.rule(seed: seed))
                cells.insert("\(rule.on) \(rule.reply?.lines ?? [])")
                let report = try ScenarioRunner.run(scenario, seed: seed, trace: .always)
                XCTAssertTrue(report.passed, "\(name) seed \(seed) (\(rule.on) × \(rule.reply?.lines.first ?? "silent")): \(report.failures)")
                XCTAssertTrue(report.result.trace.text.contains("server rule 1 fired") || rule.on == .verb("RSET") || rule.on == .verb("QUIT"),
                              "\(name) seed \(seed): the cell's rule never fired")
            }
            XCTAssertEqual(cells.count, table.count, "the seeds walk every cell once")
        }
    }

    func testAClientThatFallsBackToPlaintextIsCaughtWhereSTARTTLSIsTakenAway() throws {
        var scenario = try load(Self.tables[0])
        scenario.configuration.clients[0].configuration.flaws = [.fallsBackToPlaintext]
        let table = try XCTUnwrap(scenario.sweep?.replies)
        var caught: [String] = []
        for seed in 1...UInt64(table.count) {
            let (row, column) = try XCTUnwrap(table.cell(seed: seed))
            let findings = try ScenarioRunner.run(scenario, seed: seed).result.findings
            guard !findings.isEmpty else { continue }
            XCTAssertTrue(findings.allSatisfy { $0.oracle == .plaintextExposure && $0.side == .client }, "seed \(seed): \(findings)")
            caught.append("\(table.rows[row]) \(table.columns[column].prefix(3))")
        }
        // A 250 without STARTTLS in it, a 354, a 451 or a 554 to EHLO or to STARTTLS; a 421
        // closes, and silence is no answer it goes on after. (A 354 to EHLO or STARTTLS once hid
        // the plaintext MAIL, RCPT and DATA behind it: it was read as inviting message data,
        // which only a 354 to DATA does.)
        XCTAssertEqual(caught, ["EHLO 250", "EHLO 354", "EHLO 451", "EHLO 554", "STARTTLS 250", "STARTTLS 354", "STARTTLS 451", "STARTTLS 554"])
    }
}
