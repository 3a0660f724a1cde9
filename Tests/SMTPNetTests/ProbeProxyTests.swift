import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import XCTest

@testable import SMTPNet

/// `probe` and `proxy` over real loopback TCP: the probe's verdicts against smtpsim's server with
/// and without flaw profiles; the proxy's attacks against smtpsim's client and server.
final class ProbeProxyTests: XCTestCase {
    private func probe(_ flaws: Set<ServerFlaw>) async throws -> [String: Probe.Verdict] { try await Self.probe(flaws) }

    private static func probe(_ flaws: Set<ServerFlaw>) async throws -> [String: Probe.Verdict] {
        var server = Loopback.server(flaws: flaws)
        server.maximumConnections = Probe.connectionCount
        let (results, _) = try await Loopback.with(server) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.timeout = 5
            probe.quietWindow = 0.3
            return try await probe.run()
        }
        XCTAssertEqual(results.count, Probe.checkCount)
        return Dictionary(uniqueKeysWithValues: results.map { ("\($0.id) \($0.check)", $0.verdict) })
    }

    /// The same checks against smtpsim's server in memory (`probe --in-memory`: no socket, no
    /// waiting, the server's configuration and certificate as over loopback).
    private func probeInMemory(_ flaws: Set<ServerFlaw>) async throws -> [String: Probe.Verdict] {
        let server = Loopback.server(flaws: flaws)
        var probe = Probe(server: HostPort(host: "in-memory", port: 25))
        probe.inMemory = Probe.InMemoryServer(configuration: server.configuration, context: try TLSContext(.server(try XCTUnwrap(server.identity))))
        probe.timeout = 5
        probe.quietWindow = 0.3
        let results = try await probe.run()
        XCTAssertEqual(results.count, Probe.checkCount)
        return Dictionary(uniqueKeysWithValues: results.map { ("\($0.id) \($0.check)", $0.verdict) })
    }

    /// Issue 28: the probe's checks run in memory give, for every server flaw profile and for
    /// none, the verdict of every check that the probe over loopback gives against the same
    /// server on a socket; and each profile fails at least one check in memory (the checks
    /// reach the flaws without a socket).
    func testProbeInMemoryGivesTheLoopbackVerdictsForEveryFlawProfile() async throws {
        let profiles = [[]] + ServerFlaw.allCases.map { [$0] } as [[ServerFlaw]]
        // The loopback probes mostly wait (quiet windows): all at once, each against its own server.
        let sockets = try await withThrowingTaskGroup(of: (Int, [String: Probe.Verdict]).self) { group in
            for (k, flaws) in profiles.enumerated() { group.addTask { (k, try await Self.probe(Set(flaws))) } }
            var out: [Int: [String: Probe.Verdict]] = [:]
            for try await (k, verdicts) in group { out[k] = verdicts }
            return out
        }
        for (k, flaws) in profiles.enumerated() {
            let memory = try await probeInMemory(Set(flaws))
            XCTAssertEqual(memory, sockets[k], "\(flaws)")
            let failing = memory.filter { $0.value == .fail }.keys.sorted()
            if flaws.isEmpty {
                XCTAssertEqual(failing, [])
            } else if flaws != [.keepsAuthAcrossStartTLS] {
                // keeps-auth-across-starttls needs an AUTH before STARTTLS that the probe's
                // checks never make (the learner finds it: docs/design.md "Learning").
                XCTAssertFalse(failing.isEmpty, "\(flaws): no check fails in memory")
            }
        }
    }

    func testProbePassesTheCompliantServer() async throws {
        let verdicts = try await probe([])
        XCTAssertEqual(verdicts.filter { $0.value != .pass }, [:])
    }

    func testProbeFindsEachFlawProfile() async throws {
        let verdicts = try await probe([.keepsPlaintextAcrossStartTLS, .acceptsBareLFEndOfData, .offersAuthPlainBeforeTLS, .advertisesStartTLSAfterTLS])
        let failed = Set(verdicts.filter { $0.value == .fail }.keys)
        XCTAssertEqual(failed, [
            "D1 command-injection-same-segment", "D1 command-injection-noop", "D1 command-injection-noop-rset",
            "B6 starttls-not-advertised-after-tls", "H6 auth-before-tls",
            "G2 smuggling-lf-dot-lf", "G2 smuggling-lf-dot-crlf", "G2 smuggling-crlf-dot-lf",
        ])
        // Bare-LF headers then the same sequences: LF-only mode, its own warning (not the CVE);
        // inside BDAT chunks nothing ends the data early.
        XCTAssertEqual(Set(verdicts.filter { $0.value == .warn }.keys), ["G2 lf-mode-lf-dot-lf", "G2 lf-mode-lf-dot-crlf", "G2 lf-mode-crlf-dot-lf"])
        XCTAssertTrue(verdicts.filter { $0.key.hasPrefix("G2 bdat-") }.allSatisfy { $0.value == .pass })
        XCTAssertEqual(verdicts["B5 starttls-twice"], .pass, "a second STARTTLS is refused even by a server that lists it again")
    }

    func testTheTLSSessionChecksFindTheTeardownFlawsAndNothingElse() async throws {
        // docs/catalog.md I over loopback: close_notify mid-DATA and mid-BDAT then cleartext,
        // cleartext inside TLS, KeyUpdate, a fatal alert then cleartext.
        // A server that ignores its record-layer error answers the cleartext NOOP in the clear
        // after its alert: I3 fails too (it once passed, reading only through TLS).
        let verdicts = try await probe([.readsPlaintextAfterCloseNotify, .ignoresFatalAlerts])
        XCTAssertEqual(Set(verdicts.filter { $0.value == .fail }.keys), [
            "I1 close-notify-mid-data-then-cleartext", "I2 close-notify-mid-bdat-then-cleartext", "I3 cleartext-inside-tls", "I5 fatal-alert-then-cleartext",
        ])
        XCTAssertEqual(verdicts["I4 key-update-mid-transaction"], .pass)
    }

    /// One check against smtpsim's server with `flaws`.
    private func check(_ name: String, flaws: Set<ServerFlaw>) async throws -> Probe.Result {
        var server = Loopback.server(flaws: flaws)
        server.maximumConnections = 2
        return try await Loopback.with(server) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.timeout = 5
            probe.quietWindow = 0.3
            return await probe.result(name)!
        }.0
    }

    func testCleartextInsideTLSAnsweredInTheClearAfterTheAlertFails() async throws {
        let r = try await check("cleartext-inside-tls", flaws: [.ignoresFatalAlerts])
        XCTAssertEqual(r.verdict, .fail, r.detail)
        XCTAssertTrue(r.detail.contains("answered the cleartext in the clear: "), r.detail)
        // The wire shows what came back: the server's alert record, then its cleartext reply.
        let wire = r.bytes.filter { $0.direction == .received && $0.layer == "wire" }
        let octets = wire.flatMap { Array(Data(base64Encoded: $0.base64)!) }
        let (records, cleartext) = ScriptedConnection.split(octets)
        XCTAssertGreaterThanOrEqual(records, 1, "\(r.bytes)")
        XCTAssertNotNil(try? { var p = ReplyParser(); p.append(cleartext); return try p.next() }() as SMTPReply?, "a reply in the clear: \(r.bytes)")
        XCTAssertEqual(r.bytes.last(where: { $0.direction == .sent })?.layer, "wire")
        let compliant = try await check("cleartext-inside-tls", flaws: [])
        XCTAssertEqual(compliant.verdict, .pass, compliant.detail)
    }

    func testAnLFModeWarningIsTheSmugglingBugWhereCRLFHeadersEndThereToo() {
        let warning = Probe.Result(id: "G2", check: "lf-mode-lf-dot-lf", verdict: .warn, detail: "as an LF-only mode does (Exim's, by design)")
        // Exim: CRLF headers keep the data going, so the LF-only mode is the reason.
        var exim = warning
        Probe.relabelLFMode(&exim, given: [Probe.Result(id: "G2", check: "smuggling-lf-dot-lf", verdict: .pass, detail: "")])
        XCTAssertEqual(exim, warning)
        // aiosmtpd 1.4.4, Postfix at its defaults: the same end after CRLF headers is the bug.
        var postfix = warning
        Probe.relabelLFMode(&postfix, given: [Probe.Result(id: "G2", check: "smuggling-lf-dot-lf", verdict: .fail, detail: "")])
        XCTAssertEqual(postfix.verdict, .warn)
        XCTAssertFalse(postfix.detail.contains("by design"), postfix.detail)
        XCTAssertTrue(postfix.detail.contains("the same smuggling bug"), postfix.detail)
    }

    func testAFarewellAfterAnAlertIsToldFromAnAnswer() {
        // Exim answers any TLS read error with 421 in the clear and closes, whether a command
        // follows the alert or not: the same reply on the control connection is a farewell.
        let exim = Array("421 mx.example lost input connection\r\n".utf8)
        let farewell = Probe.farewell(after: exim, alone: exim)
        XCTAssertEqual(farewell?.0, .warn)
        XCTAssertTrue(farewell?.1.contains("farewell in the clear") ?? false)
        // An answer to the NOOP (nothing without it, or a second reply after the farewell) stays a fail.
        XCTAssertNil(Probe.farewell(after: Array("250 2.0.0 OK\r\n".utf8), alone: []))
        XCTAssertNil(Probe.farewell(after: Array("250 2.0.0 OK\r\n".utf8), alone: exim))
        XCTAssertNil(Probe.farewell(after: exim + Array("250 2.0.0 OK\r\n".utf8), alone: exim))
    }

    func testTheProbesOwnTLSRecordsAndTheReplyTimesAreInTheBytes() async throws {
        let r = try await check("close-notify-mid-data-then-cleartext", flaws: [.readsPlaintextAfterCloseNotify])
        XCTAssertEqual(r.verdict, .fail, r.detail)
        XCTAssertFalse(r.detail.contains("CVE-2026-45185 class"), "the behaviour is named, the CVE cited as where it led: \(r.detail)")
        XCTAssertTrue(r.detail.contains("RFC 8446 §6.1"), r.detail)
        // The probe's close_notify is on record, as sent.
        XCTAssertTrue(r.bytes.contains { $0.direction == .sent && $0.layer == "wire" && $0.octets >= 5 }, "\(r.bytes)")
        // The cleartext reply is timed when it came, not at the end of the wait window (2.8 s).
        let reply = try XCTUnwrap(r.bytes.first { $0.direction == .received && $0.layer == "wire" && $0.text.contains("250") })
        XCTAssertLessThan(try XCTUnwrap(reply.secondsSinceSent), 2.0, "\(reply)")
    }

    func testEachCheckCarriesItsBytes() async throws {
        var server = Loopback.server(flaws: [])
        server.maximumConnections = 1
        let result = try await Loopback.with(server) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.timeout = 5
            probe.quietWindow = 0.3
            return await probe.result("close-notify-mid-data-then-cleartext")!
        }.0
        XCTAssertEqual(result.verdict, .pass, result.detail)
        let sent = result.bytes.filter { $0.direction == .sent }
        XCTAssertEqual(sent.first?.text, "EHLO probe.smtpsim.test\\r\\n")
        XCTAssertTrue(sent.contains { $0.layer == "tls" && $0.text.hasPrefix("MAIL FROM:") })
        XCTAssertEqual(sent.last?.layer, "clear-after-tls")
        XCTAssertEqual(sent.last?.text, "\\r\\n.\\r\\nNOOP\\r\\n")
        XCTAssertTrue(result.bytes.contains { $0.direction == .received && $0.text.hasPrefix("354") })
    }

    /// One check (or the whole probe) against a server with `rules`.
    private func probe(rules: [ServerRule], check name: String? = nil) async throws -> [Probe.Result] {
        var server = Loopback.server()
        server.configuration.rules = rules
        server.maximumConnections = name == nil ? Probe.connectionCount : 1
        return try await Loopback.with(server) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.timeout = 5
            probe.quietWindow = 0.3
            if let name { return [await probe.result(name)!] }
            return try await probe.run()
        }.0
    }

    func testALongLineAnsweredTwiceIsReadWholeBeforeTheFollowUp() async throws {
        // Exim answers one 20,007-octet line with two 500s: the follow-up NOOP's reply is its own.
        let rule = ServerRule(on: .verb("NOOP"), pattern: TextPattern("NOOP xxx*"), reply: RuleReply(lines: ["500 5.5.2 line too long (first part)", "500 5.5.2 line too long (second part)"]))
        let r = try await probe(rules: [rule], check: "command-line-over-512")[0]
        XCTAssertEqual(r.verdict, .pass, r.detail)
        XCTAssertTrue(r.detail.hasPrefix("2 replies: 500"), r.detail)
        XCTAssertTrue(r.detail.hasSuffix("NOOP afterwards: 250 OK"), r.detail)
        let received = r.bytes.filter { $0.direction == .received }
        XCTAssertNil(received.first?.secondsSinceSent, "the greeting answers no command")
        XCTAssertTrue(received.dropFirst().allSatisfy { $0.secondsSinceSent != nil && $0.octets == Array(Data(base64Encoded: $0.base64)!).count }, "\(received)")
    }

    func testInjectionAgainstAServerWhoseEveryHandshakeFailsIsInconclusive() async throws {
        // A 220 to STARTTLS that never starts TLS (OpenSMTPD 6.8 with OpenSSL 3 fails every
        // handshake): "the injected bytes broke the handshake" proves nothing there.
        let rule = ServerRule(on: .verb("STARTTLS"), reply: RuleReply(text: "220 2.0.0 go ahead"), act: false)
        let results = try await probe(rules: [rule])
        let d = Dictionary(uniqueKeysWithValues: results.map { ("\($0.id) \($0.check)", $0) })
        for name in ["D2 command-injection-late-bytes", "D1 command-injection-same-segment", "D1 command-injection-noop"] {
            XCTAssertEqual(d[name]?.verdict, .inconclusive, "\(name): \(d[name]?.detail ?? "")")
        }
        XCTAssertTrue(d["D2 command-injection-late-bytes"]!.detail.contains("control handshake failed"))
    }

    func testProbeOfAServerWithoutSTARTTLSSaysNotApplicable() async throws {
        var server = Loopback.server(tls: false)
        server.configuration.extensionsBeforeTLS.removeAll { $0 == .startTLS }
        server.maximumConnections = Probe.connectionCount
        let (results, _) = try await Loopback.with(server) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.quietWindow = 0.3
            return try await probe.run()
        }
        XCTAssertEqual(results.filter { ["D1", "D2", "B5", "B6"].contains($0.id) }.map(\.verdict), Array(repeating: .notApplicable, count: 7))
    }

    /// Runs a proxy with `attacks` in front of a server; returns the client's report and the
    /// server's log.
    private func throughProxy(_ attacks: [AttackAction], policy: TLSPolicy, flaws: Set<ServerFlaw> = [], faults: [FaultRule] = []) async throws -> (NetClient.Report, [String], [String]) {
        var server = Loopback.server(flaws: flaws)
        server.maximumConnections = 1
        let proxyLog = LogBox()
        let (report, serverLog) = try await Loopback.with(server) { serverPort in
            var proxy = Proxy(listen: HostPort(host: "127.0.0.1", port: 0), upstream: HostPort(host: "127.0.0.1", port: serverPort), attacks: attacks)
            proxy.maximumConnections = 1
            proxy.faults = faults
            proxy.limits = SessionLimits(sessionSeconds: 20)
            proxy.interceptIdentity = try Loopback.factory.serverIdentity(hostname: "localhost", variant: .untrustedCA)
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let task = Task { [proxy] in
                try await proxy.run(ready: { continuation.yield($0) }, log: { id, e in proxyLog.add("\(id) \(Self.describe(e))") })
            }
            defer { task.cancel() }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { throw NetError.setup("proxy did not start") }
            return try await Loopback.client(port: port, policy: policy, trust: .anchors(Loopback.factory.trustAnchors)).deliver([Loopback.message()]) { _ in }
        }
        return (report, serverLog, proxyLog.lines)
    }

    static func describe(_ e: Proxy.Event) -> String {
        switch e {
        case .client(let b, let tls): "client\(tls ? "[tls]" : "") \(String(decoding: b, as: UTF8.self))"
        case .server(let b, let tls): "server\(tls ? "[tls]" : "") \(String(decoding: b, as: UTF8.self))"
        case .attack(let name, let detail): "attack \(name): \(detail)"
        case .note(let text): text
        case .finding(let finding): "FINDING \(finding.summary)"
        }
    }

    func testStrippingMakesARequiredClientRefuse() async throws {
        let (report, serverLog, proxyLog) = try await throughProxy([.stripStartTLS(.overwrite)], policy: .required)
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(report.outcomes[0].tlsResultType, .starttlsNotSupported)
        XCTAssertFalse(serverLog.contains { $0.contains("C: MAIL FROM") }, "no envelope may leave in plaintext")
        XCTAssertTrue(proxyLog.contains { $0.contains("strip-starttls") })
    }

    /// The opportunistic client that delivers in plaintext after the attacker stripped
    /// STARTTLS is not at fault (it never saw STARTTLS offered): the proxy, which judges both
    /// ends (`SessionJudge`), reports no finding.
    func testStrippingMakesAnOpportunisticClientDeliverInPlaintext() async throws {
        let (report, _, proxyLog) = try await throughProxy([.stripStartTLS(.overwrite)], policy: .opportunistic)
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertFalse(report.outcomes[0].overTLS)
        XCTAssertEqual(proxyLog.filter { $0.contains("FINDING") }, [])
    }

    /// The proxy judges both ends from the middle: a server offering AUTH PLAIN before TLS is
    /// the server's finding; the client that went on to STARTTLS has none.
    func testTheProxyJudgesBothEnds() async throws {
        let (report, _, proxyLog) = try await throughProxy([], policy: .opportunistic, flaws: [.offersAuthPlainBeforeTLS])
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(proxyLog.filter { $0.contains("FINDING") }.map { $0.components(separatedBy: ": the")[0] }, ["P1 FINDING plaintext-exposure (server)"])
    }

    func testInjectedCommandsAreDiscardedByACompliantServerAndKeptByAFlawedOne() async throws {
        let inject = AttackAction.injectToServer(bytes: "RSET\r\n", sameSegment: true)
        let (_, compliant, proxyLog) = try await throughProxy([inject], policy: .required)
        XCTAssertTrue(proxyLog.contains { $0.contains("appended") }, "\(proxyLog)")
        XCTAssertTrue(compliant.contains { $0.contains("starttls: discarded 6 plaintext octets") }, "\(compliant)")
        let (_, flawed, _) = try await throughProxy([inject], policy: .required, flaws: [.keepsPlaintextAcrossStartTLS])
        XCTAssertTrue(flawed.contains { $0.contains("kept 6 plaintext octets across STARTTLS") }, "\(flawed)")
    }

    func testTheInterceptingProxyEndsTheServersSessionMidBodyAndOnlyAFlawedServerReadsOn() async throws {
        // docs/catalog.md I1 through the proxy: it holds both TLS sessions; close_notify toward
        // the server inside the message data, then a cleartext end of data.
        let fault = FaultRule(.tlsCloseNotify(from: .client, then: TLSAftermath(plaintext: "\r\n.\r\n")), at: .phase(.midBody))
        let (compliantReport, compliant, proxyLog) = try await throughProxy([.interceptTLS], policy: .opportunistic, faults: [fault])
        XCTAssertTrue(proxyLog.contains { $0.contains("close_notify toward the server") }, "\(proxyLog)")
        XCTAssertFalse(compliant.contains { $0.contains("accepted") }, "\(compliant.suffix(8))")
        XCTAssertNotEqual(compliantReport.outcomes.map(\.status), [.delivered])
        let (_, flawed, _) = try await throughProxy([.interceptTLS], policy: .opportunistic, flaws: [.readsPlaintextAfterCloseNotify], faults: [fault])
        XCTAssertTrue(flawed.contains { $0.contains("accepted") }, "Dead.Letter: the cut message was accepted: \(flawed.suffix(8))")
    }

    func testTheInterceptingProxyBreaksARecordTowardTheServer() async throws {
        // tls-bad-record and tls-truncated-record over sockets: the proxy holds the records.
        for fault in [FaultRule(.tlsBadRecord(from: .client), at: .phase(.afterMAIL)), FaultRule(.tlsTruncatedRecord(from: .client), at: .phase(.afterMAIL))] {
            let (report, serverLog, proxyLog) = try await throughProxy([.interceptTLS], policy: .opportunistic, faults: [fault])
            XCTAssertTrue(proxyLog.contains { $0.contains("\(fault.effect.kind.rawValue) toward the server") }, "\(proxyLog)")
            XCTAssertNotEqual(report.outcomes.map(\.status), [.delivered], "\(fault)")
            XCTAssertFalse(serverLog.contains { $0.contains("accepted") }, "\(serverLog.suffix(6))")
        }
    }

    func testTheProxyRefusesFaultsItCannotPerform() async throws {
        var proxy = Proxy(listen: HostPort(host: "127.0.0.1", port: 0), upstream: HostPort(host: "127.0.0.1", port: 9), attacks: [])
        proxy.faults = [FaultRule(.tlsKeyUpdate(from: .server, requestUpdate: false), at: .phase(.afterMAIL))]
        do {
            try await proxy.run(ready: { _ in }, log: { _, _ in })
            XCTFail("ran without intercept-tls")
        } catch {
            XCTAssertTrue(error.description.contains("intercept-tls"), error.description)
        }
    }

    func testInterceptionIsRefusedByAVerifyingClient() async throws {
        let (report, serverLog, proxyLog) = try await throughProxy([.interceptTLS], policy: .required)
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(report.outcomes[0].tlsResultType, .certificateNotTrusted)
        XCTAssertFalse(serverLog.contains { $0.contains("accepted") })
        XCTAssertTrue(proxyLog.contains { $0.contains("terminating the client's TLS") }, "\(proxyLog)")
    }

    func testInterceptionReadsAnOpportunisticClientsMail() async throws {
        let (report, _, proxyLog) = try await throughProxy([.interceptTLS], policy: .opportunistic)
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(proxyLog.contains { $0.contains("client[tls] MAIL FROM") }, "the attacker read the envelope")
    }
}
