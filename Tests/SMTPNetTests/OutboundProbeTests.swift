import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import Synchronization
import XCTest

@testable import SMTPNet

/// `probe --outbound` against a relay made of smtpsim's own machines on loopback (its server
/// takes a message, its client forwards it to the probe's listener), and `matrix` over probe
/// results (issue 18).
final class OutboundProbeTests: XCTestCase {
    /// The port the probe's next hop listens on, for the relay to forward to.
    final class NextHopPort: Sendable {
        let value = Mutex<Int?>(nil)
    }

    /// A relay that takes bare line endings, forwards them as they are and does not re-stuff a
    /// BDAT chunk it forwards with DATA: LF.LF leaves it verbatim, the real end of data inside a
    /// chunk splits the message at the next hop, and CRLF.LF loses its dot in the relay's own
    /// DATA reader (RFC 5321 §4.5.2), so it arrives normalised.
    func testThePassThroughRelayIsSeenAsItForwards() async throws {
        var inbound = Loopback.server(tls: false).configuration
        inbound.rejectBareLineEndings = false
        var relay = NetServer(listen: HostPort(host: "127.0.0.1", port: 0), configuration: inbound, identity: nil)
        relay.limits = SessionLimits(sessionSeconds: 20)
        let nextHop = NextHopPort()
        relay.onDeliver = { accepted in
            guard let port = nextHop.value.withLock({ $0 }) else { return }
            var client = Loopback.client(port: port, policy: .plaintext, trust: .none)
            client.configuration.lineEndings = .passThrough
            client.configuration.flaws = [.skipsDotStuffing]
            client.configuration.heloName = "relay.localhost"
            let message = OutgoingMessage(id: accepted.queueID, from: accepted.reversePath, to: accepted.recipients, body: accepted.body)
            Task { _ = try? await client.deliver([message]) { _ in } }
        }
        let (results, log) = try await Loopback.with(relay) { port in
            var probe = OutboundProbe(relay: HostPort(host: "127.0.0.1", port: port), listen: HostPort(host: "127.0.0.1", port: 0))
            probe.timeout = 3
            probe.arrival = 5
            probe.quietWindow = 0.3
            probe.rcptTo = "bob@example.net"
            return try await probe.run(ready: { p in nextHop.value.withLock { $0 = p } })
        }
        let arrival = Dictionary(uniqueKeysWithValues: results.map { ($0.check, $0) })
        XCTAssertEqual(results.count, OutboundProbe.checkCount)
        XCTAssertEqual(arrival["data-lf-dot-lf"]?.arrival, .verbatim, "\(results) \(log.suffix(20))")
        XCTAssertEqual(arrival["data-lf-dot-lf"]?.arrived, "\\n.\\n")
        XCTAssertEqual(arrival["bare-lf-in-line"]?.arrival, .verbatim)
        XCTAssertEqual(arrival["bdat-crlf-dot-crlf"]?.arrival, .split, "\(String(describing: arrival["bdat-crlf-dot-crlf"]))")
        XCTAssertEqual(arrival["bdat-crlf-dot-crlf"]?.messages, 2)
        XCTAssertEqual(arrival["data-crlf-dot-lf"]?.arrival, .normalised)
        XCTAssertEqual(arrival["data-crlf-dot-lf"]?.arrived, "\\r\\n\\n")
        XCTAssertFalse(results.contains { $0.arrival == .lost || $0.arrival == .inconclusive }, "\(results.filter { $0.arrival == .lost || $0.arrival == .inconclusive })")
    }

    func testADotStuffedSequenceIsStuffedNotNormalisedAndNULIsTwoDigits() {
        // A BDAT chunk forwarded with DATA: `\r\n.\r\n` must go as `\r\n..\r\n`, the same content.
        XCTAssertEqual(OutboundProbe.dotStuffed([0x0D, 0x0A, 0x2E, 0x0D, 0x0A]), Array("\r\n..\r\n".utf8))
        XCTAssertEqual(OutboundProbe.dotStuffed(SmugglingVariant.lfLF.bytes), Array("\n..\n".utf8))
        XCTAssertEqual(OutboundProbe.escape([0x0D, 0x0A, 0x00, 0x2E, 0x0D, 0x0A]), "\\r\\n\\x00.\\r\\n")
        XCTAssertEqual(OutboundProbe.escape([0x7F, 0x0B]), "\\x7f\\x0b")
    }

    static func outbound(_ check: String, _ arrival: OutboundProbe.Arrival, arrived: [UInt8]? = nil) -> OutboundProbe.Result {
        OutboundProbe.Result(check: check, sent: "", arrival: arrival, arrived: arrived.map(OutboundProbe.escape), arrivedBase64: arrived.map(Base64.encode),
                             reply: nil, messages: 1, detail: "")
    }

    static func inbound(_ variant: SmugglingVariant, _ verdict: Probe.Verdict) -> Probe.Result {
        Probe.Result(id: "G2", check: "smuggling-\(variant.rawValue)", verdict: verdict, detail: "")
    }

    /// A pair delivers a smuggled message exactly when what the relay forwarded is a sequence the
    /// server ends the data at, or the relay ends the data itself.
    func testTheMatrixPairsWhatARelayForwardsWithWhatAServerEndsAt() {
        let passes = SmugglingMatrix.Outbound(name: "passes", results: [
            Self.outbound("data-lf-dot-crlf", .verbatim, arrived: SmugglingVariant.lfCRLF.bytes),
            Self.outbound("data-cr-dot-cr", .normalised, arrived: SmugglingVariant.lfLF.bytes),   // made into another variant
            Self.outbound("bare-lf-in-line", .verbatim, arrived: [0x0A]),                          // not a smuggling check
        ])
        let normalises = SmugglingMatrix.Outbound(name: "normalises", results: [
            Self.outbound("data-lf-dot-crlf", .normalised, arrived: Array("\r\n..\r\n".utf8)),
            Self.outbound("data-lf-dot-lf", .refused),
        ])
        let splits = SmugglingMatrix.Outbound(name: "splits", results: [Self.outbound("data-lf-dot-lf", .split)])
        let lenient = SmugglingMatrix.Inbound(name: "lenient", results: [Self.inbound(.lfCRLF, .fail), Self.inbound(.lfLF, .pass)])
        let lfOnly = SmugglingMatrix.Inbound(name: "lf-only", results: [Self.inbound(.lfCRLF, .pass), Self.inbound(.lfLF, .fail)])
        let strict = SmugglingMatrix.Inbound(name: "strict", results: SmugglingVariant.allCases.map { Self.inbound($0, .pass) })
        let m = SmugglingMatrix(outbound: [passes, normalises, splits], inbound: [lenient, lfOnly, strict])
        func paths(_ o: String, _ i: String) -> [String] { m.pairs.first { $0.outbound == o && $0.inbound == i }!.paths.map(\.text) }
        XCTAssertEqual(paths("passes", "lenient"), ["data-lf-dot-crlf → lf-dot-crlf"])
        XCTAssertEqual(paths("passes", "lf-only"), ["data-cr-dot-cr → lf-dot-lf"])
        XCTAssertEqual(paths("passes", "strict"), [])
        XCTAssertEqual(paths("normalises", "lenient") + paths("normalises", "lf-only") + paths("normalises", "strict"), [])
        XCTAssertEqual(paths("splits", "strict"), ["data-lf-dot-lf (the relay ends the data)"])
        XCTAssertTrue(m.text.contains("5 of 9 pairs deliver a smuggled message"), m.text)
        XCTAssertTrue(m.html.contains("<td class=bad>"))
        let json = try? JSONSerialization.jsonObject(with: m.json) as? [String: Any]
        XCTAssertEqual((json?["pairs"] as? [Any])?.count, 9)
    }
}
