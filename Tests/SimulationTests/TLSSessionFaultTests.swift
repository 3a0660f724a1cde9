import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import XCTest

/// One test per TLS session fault (docs/catalog.md I): each strikes where it is placed, the
/// peer sees what the fault did on the wire, and the compliant pair ends without a finding,
/// delivering on the retry when the fault ended the first session.
final class TLSSessionFaultTests: XCTestCase {
    private func run(_ fault: FaultRule, tls: TLSProfile? = nil, chunking: Bool = false) throws -> RunResult {
        let r = try simulate(scenario {
            $0.faults = [fault]
            if let tls { $0.tls = tls }
            $0.clients[0].configuration.policy = .required
            $0.clients[0].configuration.useChunking = chunking
            $0.clients[0].configuration.retry = RetryPolicy(delay: 60_000_000_000, maximumAttempts: 3)
        })
        XCTAssertEqual(r.findings, [], r.trace.text)
        XCTAssertEqual(r.statuses, [.delivered], r.trace.text)
        XCTAssertTrue(r.has(fault.effect.kind.rawValue), "the fault struck\n\(r.trace.text)")
        return r
    }

    private func lines(_ r: RunResult) -> [String] { r.trace.events.map(\.text) }

    func testCloseNotifyEndsTheSessionAndThePeerClosesWithoutReadingTheCleartextAfterIt() throws {
        let r = try run(FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath(plaintext: "RSET\r\n")), at: .phase(.afterRCPT), connections: [1]))
        XCTAssertEqual(r.connections, 2, "the first session ended; the retry delivered")
        XCTAssertTrue(lines(r).contains { $0.contains("#1 client closed: close_notify") }, "the server heard the close_notify")
        XCTAssertTrue(lines(r).contains { $0.contains("[clear after tls] RSET") }, "the cleartext went on the wire")
        XCTAssertFalse(lines(r).contains { $0.contains("server command RSET") }, "and nothing read it")
    }

    func testAFatalAlertReachesThePeerByName() throws {
        let r = try run(FaultRule(.tlsAlert(from: .server, .recordOverflow, then: TLSAftermath()), at: .phase(.after354), connections: [1]))
        XCTAssertTrue(lines(r).contains { $0.contains("#1 client tls failed") && $0.contains("record_overflow") }, r.trace.text)
    }

    func testAnAlertOpenSSLCannotSendInTLS12IsNotedAndNothingHappens() throws {
        let r = try run(FaultRule(.tlsAlert(from: .client, .decodeError, then: TLSAftermath()), at: .phase(.afterMAIL), connections: [1]),
                        tls: .cheap(.tls12))
        XCTAssertEqual(r.connections, 1)
        XCTAssertTrue(lines(r).contains { $0.contains("fatal alert decode_error: the TLS engine cannot do this") }, r.trace.text)
    }

    func testATruncatedRecordThenFINIsARecordFailureAtThePeer() throws {
        let r = try run(FaultRule(.tlsTruncatedRecord(from: .client), at: .phase(.midBody), connections: [1]))
        XCTAssertTrue(lines(r).contains { $0.contains("tls-truncated-record: the client's record cut to") }, r.trace.text)
        XCTAssertEqual(r.connections, 2)
    }

    func testAFlippedOctetFailsThePeersMACCheck() throws {
        let r = try run(FaultRule(.tlsBadRecord(from: .server), at: .phase(.afterPostTLSEHLO), connections: [1]))
        XCTAssertTrue(lines(r).contains { $0.contains("#1 client tls failed") && $0.contains("bad_record_mac") }, r.trace.text)
    }

    func testOneOctetRecordsCarryTheSessionUnchanged() throws {
        let r = try run(FaultRule(.tlsRecordSize(from: .client, octets: 1)), chunking: true)
        XCTAssertEqual(r.connections, 1)
        // TLS 1.3 records of one octet: 5 header + 1 + 1 content type + 16 tag = 23 octets each.
        let records = r.trace.events.filter { if case .sent(.clientToServer, 1, let b) = $0.kind { b.count % 23 == 0 && b.count > 23 } else { false } }
        XCTAssertFalse(records.isEmpty, "the client's writes went as runs of 23-octet records")
    }

    func testKeyUpdatesBothWaysKeepTheSessionGoing() throws {
        for requesting in [false, true] {
            for side in Side.allCases {
                let r = try run(FaultRule(.tlsKeyUpdate(from: side, requestUpdate: requesting), at: .phase(.afterRCPT)))
                XCTAssertEqual(r.connections, 1, "\(side) \(requesting)")
            }
        }
    }

    func testARefusedRenegotiationEndsInAClassifiedOutcome() throws {
        let r = try run(FaultRule(.tlsRenegotiate(from: .server), at: .phase(.afterMAIL), connections: [1]), tls: .cheap(.tls12))
        XCTAssertTrue(lines(r).contains { $0.contains("no_renegotiation") }, r.trace.text)
    }

    func testCleartextWhileTLSIsUpIsARecordFailureNotACommand() throws {
        let r = try run(FaultRule(.plaintextAfterTLS(from: .client, bytes: "NOOP\r\n"), at: .phase(.afterRCPT), connections: [1]))
        XCTAssertTrue(lines(r).contains { $0.contains("#1 server tls failed") && $0.contains("protocol_version") }, r.trace.text)
        XCTAssertFalse(lines(r).contains { $0.contains("server command NOOP") })
    }

    func testBeforeMatchStrikesAheadOfTheMatchedBytes() throws {
        var tracker = TriggerTracker(rules: [FaultRule(.reset, at: .write(side: .server, pattern: "250 2.0.0", cut: .beforeMatch, epoch: nil))], connection: 1)
        let write = Array("250-x\r\n250 2.0.0 OK\r\n".utf8)
        XCTAssertEqual(tracker.firings(write, by: .server, epoch: 1, armed: true), [TriggerTracker.Firing(rule: 0, afterOctets: 7)])
    }
}

/// A server of a user's own that, once its TLS session ends, goes back to the clear and writes
/// without reading anything: the tls-teardown oracle must flag the write itself.
final class WritesInTheClearServer: ServerProgram {
    final class Endpoint: SimulatedEndpoint {
        let inner: BuiltInServerEndpoint
        init(_ inner: BuiltInServerEndpoint) { self.inner = inner }
        var role: EndpointRole { .server }
        func start() -> [EndpointAction] { inner.start() }
        func receive(_ bytes: [UInt8]) -> [EndpointAction] { inner.receive(bytes) }
        func tlsFinished(_ report: TLSReport) -> [EndpointAction] { inner.tlsFinished(report) }
        func timerFired(_ id: TimerID) -> [EndpointAction] { inner.timerFired(id) }
        func peerClosed() -> [EndpointAction] { inner.peerClosed() }
        func tlsEnded(_ end: TLSEnd) -> [EndpointAction] { [.resumePlaintext, .send(Array("421 4.3.0 going away\r\n".utf8)), .close] }
    }

    func accept(connection: Int) -> SimulatedEndpoint {
        Endpoint(BuiltInServerEndpoint(configuration: ServerConfiguration(), connectionID: "C\(connection)"))
    }
    var accepted: [AcceptedMessage] { [] }
}

final class TLSTeardownOracleTests: XCTestCase {
    func testAWriteInTheClearAfterTheSessionEndedIsAFindingEvenWithoutAnOctetRead() throws {
        var config = scenario { $0.clients[0].configuration.policy = .required }
        config.faults = [FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath()), at: .phase(.afterMAIL), connections: [1])]
        let r = try World(configuration: config, serverProgram: WritesInTheClearServer()).run()
        let finding = try XCTUnwrap(r.findings.first { $0.oracle == .tlsTeardown }, r.trace.text)
        XCTAssertTrue(finding.explanation.contains("the server wrote 421 4.3.0 going away"), finding.explanation)
        XCTAssertTrue(finding.explanation.contains("close_notify received"), finding.explanation)
        XCTAssertFalse(finding.explanation.contains("after reading"), "it read nothing after the end")
        XCTAssertEqual(finding.reference, "CVE-2026-45185; RFC 8446 §6.1; RFC 3207 §4.2; docs/catalog.md I")
    }
}
