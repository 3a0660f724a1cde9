import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPLearning
import SMTPServer
import SMTPTLS
import XCTest

@testable import SMTPNet

/// Implicit TLS (RFC 8314 §3) over loopback: `serve`'s server and `send`'s client, the probe, the
/// proxy, the learner and a scenario's script, each confirmed on the wire.
final class ImplicitTLSSocketTests: XCTestCase {
    static func implicitServer(flaws: Set<ServerFlaw> = []) -> NetServer {
        var server = Loopback.server(flaws: flaws, credentials: ["alice": "secret"])
        server.configuration.implicitTLS = true
        return server
    }

    static func implicitClient(port: Int, policy: TLSPolicy = .required, credentials: Credentials? = nil) -> NetClient {
        var client = Loopback.client(port: port, policy: policy, trust: .anchors(Loopback.factory.trustAnchors), credentials: credentials)
        client.configuration.implicitTLS = true
        return client
    }

    /// What the server wrote in the clear (the dialogue marks what went inside TLS `[tls]`).
    static func clearLines(_ log: [String], _ who: String) -> [String] { log.filter { $0.contains(" \(who): ") } }

    func testTheImplicitPairDeliversWithTheGreetingInsideTLSAndNoSTARTTLS() async throws {
        var server = Self.implicitServer()
        server.maximumConnections = 1
        let (report, log) = try await Loopback.with(server) { port in
            try await Self.implicitClient(port: port, credentials: Credentials(username: "alice", password: "secret")).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(report.outcomes.map(\.overTLS), [true])
        XCTAssertNil(report.capabilitiesBeforeTLS, "no EHLO before TLS")
        XCTAssertFalse(report.capabilities.startTLS)
        XCTAssertEqual(report.tls?.peerVerified, true)
        XCTAssertEqual(Self.clearLines(log, "S") + Self.clearLines(log, "C"), [], "not one line in the clear:\n\(log.joined(separator: "\n"))")
        XCTAssertTrue(log.first { $0.contains("S[tls]:") }?.contains("S[tls]: 220 localhost") == true, log.joined(separator: "\n"))
        XCTAssertTrue(log.contains { $0.contains("-- command AUTH") }, "credentials went inside TLS")
        XCTAssertFalse(log.contains { $0.contains("FINDING") }, "the greeting inside TLS is no boundary finding:\n\(log.joined(separator: "\n"))")
    }

    /// An implicit-TLS client at a STARTTLS port: the handshake fails on the server's 220 and
    /// not one SMTP line leaves the client; the message is deferred as `starttls-not-supported`.
    func testAnImplicitClientAtASTARTTLSPortSendsNoSMTPInTheClear() async throws {
        var server = Loopback.server()
        server.maximumConnections = 1
        let (report, log) = try await Loopback.with(server) { port in
            try await Self.implicitClient(port: port).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(report.outcomes.first?.tlsResultType, .starttlsNotSupported)
        XCTAssertTrue(report.outcomes.first?.reason.contains("TLS handshake failed") == true, report.outcomes.first?.reason ?? "")
        // What reached the server from the client: the ClientHello only, no command.
        XCTAssertFalse(log.contains { $0.contains("-- command ") }, log.joined(separator: "\n"))
    }

    /// A STARTTLS client at an implicit-TLS port waits for a greeting that never comes in the clear.
    func testASTARTTLSClientAtAnImplicitPortGetsNoGreeting() async throws {
        var server = Self.implicitServer()
        server.maximumConnections = 1
        let (report, _) = try await Loopback.with(server) { port in
            var client = Loopback.client(port: port, policy: .opportunistic, trust: .anchors(Loopback.factory.trustAnchors))
            client.configuration.timeouts = ClientTimeouts(uniform: 300_000_000)
            return try await client.deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(report.outcomes.first?.reason.contains("greeting") == true, report.outcomes.first?.reason ?? "")
    }

    /// `probe --implicit-tls`: the STARTTLS checks are n/a, every other check runs inside TLS
    /// and passes the compliant server; on the wire each check's first octets are a ClientHello.
    func testTheProbeOfAnImplicitTLSServer() async throws {
        let (results, _) = try await Loopback.with(Self.implicitServer()) { port in
            var probe = Probe(server: HostPort(host: "127.0.0.1", port: port))
            probe.implicitTLS = true
            probe.timeout = 2
            probe.quietWindow = 0.2
            return try await probe.run()
        }
        XCTAssertEqual(results.count, Probe.checkCount)
        XCTAssertEqual(Set(results.filter { $0.verdict == .notApplicable }.map(\.id)), Probe.startTLSOnly)
        let others = results.filter { !Probe.startTLSOnly.contains($0.id) }
        XCTAssertEqual(others.filter { $0.verdict != .pass }.map { "\($0.check): \($0.verdict) \($0.detail)" }, [])
        for r in others {
            XCTAssertFalse(r.bytes.isEmpty, r.check)
            XCTAssertFalse(r.bytes.contains { $0.layer == "plaintext" }, "\(r.check): nothing in plaintext: \(r.bytes.map(\.layer))")
        }
    }

    /// The teardown flaws are found inside implicit TLS (in memory, the verdicts of loopback).
    func testTheProbeFindsTheTeardownFlawsInsideImplicitTLS() async throws {
        for (flaw, check) in [(ServerFlaw.readsPlaintextAfterCloseNotify, "close-notify-mid-data-then-cleartext"), (.ignoresFatalAlerts, "fatal-alert-then-cleartext")] {
            var configuration = Self.implicitServer(flaws: [flaw]).configuration
            configuration.hostname = "localhost"
            var probe = Probe(server: HostPort(host: "in-memory", port: 465))
            probe.inMemory = Probe.InMemoryServer(configuration: configuration, context: try TLSContext(.server(Loopback.identity())))
            probe.implicitTLS = true
            let result = await probe.result(check)
            XCTAssertEqual(result?.verdict, .fail, "\(flaw): \(result?.detail ?? "")")
        }
    }

    /// The proxy tells implicit TLS by its first octets: the attacks on the plaintext phase say
    /// they do not apply, and intercept-tls terminates the session (a verifying client refuses it).
    func testTheProxyInterceptsImplicitTLSAndSaysWhatDoesNotApply() async throws {
        for policy in [TLSPolicy.opportunistic, .required] {
            var server = Self.implicitServer()
            server.maximumConnections = 1
            let proxyLog = LogBox()
            let (report, serverLog) = try await Loopback.with(server) { serverPort in
                var proxy = Proxy(listen: HostPort(host: "127.0.0.1", port: 0), upstream: HostPort(host: "127.0.0.1", port: serverPort),
                                  attacks: [.stripStartTLS(.delete), .injectToServer(bytes: "RSET\r\n", sameSegment: true), .interceptTLS])
                proxy.maximumConnections = 1
                proxy.limits = SessionLimits(sessionSeconds: 20)
                proxy.interceptIdentity = try Loopback.factory.serverIdentity(hostname: "localhost", variant: .untrustedCA)
                let (ports, continuation) = AsyncStream<Int>.makeStream()
                let task = Task { [proxy] in try await proxy.run(ready: { continuation.yield($0) }, log: { id, e in proxyLog.add("\(id) \(ProbeProxyTests.describe(e))") }) }
                defer { task.cancel() }
                var it = ports.makeAsyncIterator()
                guard let port = await it.next() else { throw NetError.setup("proxy did not start") }
                return try await Self.implicitClient(port: port, policy: policy).deliver([Loopback.message()]) { _ in }
            }
            let lines = proxyLog.lines
            XCTAssertEqual(lines.filter { $0.contains("not applicable: the connection is TLS from its first octet") }.count, 2, lines.joined(separator: "\n"))
            XCTAssertTrue(lines.contains { $0.contains("attack intercept-tls: terminating the client's TLS") })
            if policy == .required {
                XCTAssertEqual(report.outcomes.first?.tlsResultType, .certificateNotTrusted)
                XCTAssertFalse(serverLog.contains { $0.contains("-- command MAIL") })
            } else {
                XCTAssertEqual(report.outcomes.map(\.status), [.delivered], lines.joined(separator: "\n"))
                XCTAssertTrue(lines.contains { $0.contains("client[tls] MAIL FROM:<alice@example.test>") }, "the attacker read the envelope")
                XCTAssertFalse(serverLog.contains { $0.contains("-- command RSET") }, "nothing injected")
            }
        }
    }

    /// `learn --implicit-tls`: the socket machine is the in-memory one; STARTTLS inside TLS is
    /// refused and the learner's own handshake is `tls-active`.
    func testLearningAnImplicitTLSServerOnASocketGivesTheInMemoryMachine() async throws {
        let inputs: [LearningInput] = [.ehlo, .starttls, .handshake, .mail, .quit]
        let budget = { var b = Learner.Budget(); b.walks = 0; return b }()
        let server = Self.implicitServer()
        let (socketMachine, _) = try await Loopback.with(server) { port in
            try await Task.detached {
                try Learner(system: SocketServer(server: HostPort(host: "127.0.0.1", port: port), inputs: inputs, timeout: 3, quiet: 0.1, parallel: 4, implicitTLS: true),
                            budget: budget).learn()
            }.value
        }
        let memory = try Learner(system: InMemoryServer(configuration: server.configuration, inputs: inputs), budget: budget).learn()
        XCTAssertEqual(socketMachine, memory, "socket:\n\(socketMachine.dot())\nmemory:\n\(memory.dot())")
        XCTAssertTrue(memory.dot().contains("tls-active"), memory.dot())
    }

    /// A scenario's script under `security: implicit-tls` (`run --against`) starts TLS first.
    func testAnImplicitTLSScriptRunsAgainstTheServer() async throws {
        let steps: [ScriptStep] = [.startTLS, .expect("220"), .sendLine("EHLO script.test"), .expectReply(code: "250", advertises: ["AUTH"], withholds: ["STARTTLS"]),
                                   .sendLine("QUIT"), .expect("221")]
        let (run, _) = try await Loopback.with(Self.implicitServer()) { port in
            try await SocketScript.run(steps, against: HostPort(host: "127.0.0.1", port: port), timeout: 2)
        }
        XCTAssertEqual(run.notes.filter { $0.hasPrefix("script:") }, [], "\(run.notes)")
        XCTAssertEqual(run.exchanges.first { $0.direction == .received }?.text.hasPrefix("220 localhost"), true, "\(run.exchanges.map(\.text))")
        XCTAssertFalse(run.exchanges.contains { $0.layer == "plaintext" }, "\(run.exchanges.map(\.layer))")
    }
}
