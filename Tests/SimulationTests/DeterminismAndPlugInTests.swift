import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import XCTest

@testable import Simulation

final class DeterminismTests: XCTestCase {
    /// A run with randomness everywhere: latency ranges, random resets, several clients.
    static func busy(seed: UInt64) -> SimulationConfiguration {
        scenario(seed: seed) {
            $0.clients = (0..<3).map { i in
                var spec = ClientSpec(messages: [message("m\(i)"), message("n\(i)", to: ["x@example.net"])])
                spec.configuration.heloName = "client\(i).example.test"
                spec.configuration.retry = RetryPolicy(delay: 60_000_000_000, maximumAttempts: 6)
                spec.connectAt = Int64(i) * 5_000_000
                return spec
            }
            $0.faults = [FaultRule(.latency(min: 1_000_000, max: 50_000_000)), FaultRule(.split(maxSegment: 7), direction: .serverToClient),
                         FaultRule(.resetProbability(Ratio(1, 40)))]
            $0.faultWindow = 300_000_000_000
        }
    }

    func testSameSeedSameDigestTLSBytesIncluded() throws {
        let a = try simulate(Self.busy(seed: 11))
        let b = try simulate(Self.busy(seed: 11))
        XCTAssertEqual(a.digest, b.digest)
        XCTAssertNil(Trace.firstDivergence(a.trace, b.trace))
        XCTAssertTrue(a.trace.events.contains { if case .sent(_, 1, _) = $0.kind { true } else { false } }, "TLS records are in the trace")
        XCTAssertEqual(a.statuses, Array(repeating: .delivered, count: 6), a.trace.text)
        XCTAssertEqual(a.findings, [])
    }

    func testReusedCheapContextsGiveTheSameRunColdOrWarm() throws {
        var config = Self.busy(seed: 5)
        config.tls = .cheap(.tls13)
        config.reuseCheapTLSContexts = true
        CheapContextCache.removeAll()
        let cold = try simulate(config)
        let warm = try simulate(config)
        XCTAssertEqual(cold.digest, warm.digest, "making a cached context must not draw from the run's stream")
        XCTAssertEqual(cold.statuses, Array(repeating: .delivered, count: 6))
        config.reuseCheapTLSContexts = false
        XCTAssertNotEqual(try simulate(config).digest, cold.digest, "the fuzz mode's fixed key gives other TLS bytes")
    }

    func testDifferentSeedsDifferAndTheDivergenceIsNamed() throws {
        let a = try simulate(Self.busy(seed: 11))
        let b = try simulate(Self.busy(seed: 12))
        XCTAssertNotEqual(a.digest, b.digest)
        let d = try XCTUnwrap(Trace.firstDivergence(a.trace, b.trace))
        XCTAssertNotNil(d.left)
    }

    func testClientsInterleave() throws {
        let r = try simulate(Self.busy(seed: 3))
        // Events of different connections alternate in the trace.
        let order = r.trace.events.map(\.connection).filter { $0 > 0 }
        var switches = 0
        for i in 1..<order.count where order[i] != order[i - 1] { switches += 1 }
        XCTAssertGreaterThan(switches, 10)
        XCTAssertEqual(r.accepted.count, 6)
    }

    func testCheapTLSProfile() throws {
        let r = try simulate(scenario { $0.tls = .cheap(.tls13); $0.clients[0].configuration.policy = .required })
        XCTAssertEqual(r.statuses, [.delivered], r.trace.text)
        XCTAssertEqual(r.accepted.first?.overTLS, true)
    }
}

/// A third implementation plugs in: a tiny lockstep client written here, not by smtpsim.
final class MinimalClient: SimulatedEndpoint {
    let role = EndpointRole.client
    private var step = 0
    private var buffer: [UInt8] = []
    private let script = ["EHLO minimal.example", "MAIL FROM:<min@example.test>", "RCPT TO:<bob@example.net>", "DATA", "hello from a third implementation\r\n.", "QUIT"]

    func start() -> [EndpointAction] { [] }
    func receive(_ bytes: [UInt8]) -> [EndpointAction] {
        buffer += bytes
        var out: [EndpointAction] = []
        // One reply per line end whose fourth byte is a space (good enough for this test).
        while let lf = buffer.firstIndex(of: 0x0A) {
            let line = Array(buffer[...lf])
            buffer.removeFirst(lf + 1)
            guard line.count < 4 || line[3] != 0x2D else { continue }
            if step < script.count {
                out.append(.send(Array((script[step] + "\r\n").utf8)))
                step += 1
            } else {
                out.append(.close)
            }
        }
        return out
    }
    func tlsFinished(_ report: TLSReport) -> [EndpointAction] { [] }
    func timerFired(_ id: TimerID) -> [EndpointAction] { [] }
    func peerClosed() -> [EndpointAction] { [.close] }
}

final class PlugInTests: XCTestCase {
    func testAThirdImplementationPlugsIn() throws {
        var config = scenario()
        config.clients = []
        let intended = OutgoingMessage(id: "x", from: .mailbox(try Mailbox("min@example.test")), to: [.mailbox(try Mailbox("bob@example.net"))],
                                       body: Array("hello from a third implementation\r\n".utf8))
        let program = SingleConnectionProgram(endpoint: MinimalClient(), intendedMessages: [intended], policy: .plaintext)
        let r = try World(configuration: config, clientPrograms: [program]).run()
        XCTAssertEqual(r.accepted.count, 1, r.trace.text)
        XCTAssertEqual(r.accepted.first?.body, Array("hello from a third implementation\r\n".utf8))
        XCTAssertEqual(r.findings, [], r.trace.text)
    }

    func testScriptedServerWithMixedMultilineCodes() throws {
        // docs/catalog.md F1: "250-…" then "521 …": the client treats it as fatal; the reply-grammar
        // oracle names the server.
        let server = ScriptedServerProgram(steps: [
            .sendLine("220 mx.example.test ESMTP"), .expect("EHLO"), .send("250-mx.example.test\r\n521 oops\r\n"), .expect("QUIT"), .close,
        ])
        var config = scenario { $0.clients[0].configuration.retry = RetryPolicy(delay: 1, maximumAttempts: 1) }
        config.clients[0].configuration.policy = .opportunistic
        let r = try World(configuration: config, serverProgram: server).run()
        XCTAssertEqual(r.statuses, [.temporaryFailure])
        XCTAssertTrue(r.outcomes[0].reason.contains("inconsistent-multiline-reply"))
        XCTAssertEqual(r.oracles, [.replyGrammar])
    }

    func testScriptedBogusSTARTTLS() throws {
        // docs/catalog.md B4 by a server script: 220 to STARTTLS, then plaintext instead of a ServerHello.
        let server = ScriptedServerProgram(steps: [
            .sendLine("220 mx.example.test ESMTP"), .expect("EHLO"), .send("250-mx.example.test\r\n250 STARTTLS\r\n"),
            .expect("STARTTLS"), .send("220 EHLO client!\r\n250 fine\r\n"), .pause(1_000_000_000), .sendLine("250 more plaintext"), .close,
        ])
        let r = try World(configuration: scenario { $0.clients[0].configuration.policy = .required; $0.clients[0].configuration.retry = RetryPolicy(delay: 1, maximumAttempts: 1) }, serverProgram: server).run()
        XCTAssertEqual(r.statuses, [.temporaryFailure], r.trace.text)
        XCTAssertFalse(r.oracles.contains(.plaintextExposure))
        let clientPlain = r.trace.events.filter { if case .plaintext(.clientToServer, 0, _) = $0.kind { true } else { false } }
        XCTAssertEqual(clientPlain.count, 2, "EHLO and STARTTLS, then nothing in plaintext")
    }

    func testLivenessFindingWhenNothingEnds() throws {
        // A server that never answers and a client without timeouts is a hang: the budget ends it.
        let server = ScriptedServerProgram(steps: [.expect("NEVER")])
        var config = scenario()
        config.clients[0].configuration.timeouts.greeting = Int64.max / 4
        config.eventBudget = 50
        let r = try World(configuration: config, serverProgram: server).run()
        XCTAssertTrue(r.oracles.contains(.liveness), r.trace.text)
    }
}
