import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
import XCTest

/// One test per fault kind: the fault fires (it is in the trace) and the run still ends in a
/// classified outcome with no finding against the compliant machines.
final class FaultTests: XCTestCase {
    private func run(_ faults: [FaultRule], _ change: (inout SimulationConfiguration) -> Void = { _ in }, file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let r = try simulate(scenario {
            $0.faults = faults
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 3)
            change(&$0)
        })
        XCTAssertEqual(r.findings, [], r.trace.text, file: file, line: line)
        XCTAssertEqual(r.outcomes.count, 1, file: file, line: line)
        return r
    }

    func testLatencySplitAndCoalesce() throws {
        let slow = try run([FaultRule(.latency(min: 1_000_000, max: 40_000_000))])
        XCTAssertEqual(slow.statuses, [.delivered])
        XCTAssertGreaterThan(slow.duration, 10_000_000)
        let oneByte = try run([FaultRule(.split(maxSegment: 1))])
        XCTAssertEqual(oneByte.statuses, [.delivered])
        let segments = oneByte.trace.events.filter { if case .sent(_, _, let b) = $0.kind { b.count > 1 } else { false } }
        XCTAssertEqual(segments.count, 0, "every segment is one byte")
        let coalesced = try run([FaultRule(.coalesce(window: 5_000_000))])
        XCTAssertEqual(coalesced.statuses, [.delivered])
    }

    func testResetAtEveryPhaseEndsInAnOutcome() throws {
        // docs/catalog.md E1: a reset at each phase of the first connection; the retry delivers.
        for phase in ProtocolPhase.allCases {
            let r = try run([FaultRule(.reset, at: .phase(phase), connections: [1])], {
                $0.server.configuration.credentials = ["alice": "secret"]
                // LOGIN, so that there is a 334 to strike after (mid-auth).
                $0.clients[0].configuration.credentials = Credentials(username: "alice", password: "secret", mechanisms: ["LOGIN"])
                if phase == .midBDATChunk || phase == .betweenBDATChunks {
                    $0.clients[0].configuration.useChunking = true
                    $0.clients[0].configuration.bdatChunkSize = 8
                }
                // The greeting is inside TLS only under implicit TLS (RFC 8314 §3).
                if phase == .midGreetingInTLS || phase == .afterGreetingInTLS {
                    $0.server.configuration.implicitTLS = true
                    $0.clients[0].configuration.implicitTLS = true
                }
            })
            XCTAssertTrue(r.has("reset"), "\(phase): the fault fired\n\(r.trace.text)")
            XCTAssertEqual(r.statuses, [.delivered], "\(phase)")
            if phase == .afterFinalDot || phase == .afterFinalReply {
                // The server has the message; the client may not know: at most one duplicate.
                XCTAssertLessThanOrEqual(r.accepted.count, 2, "\(phase)")
            } else {
                XCTAssertEqual(r.accepted.count, 1, "\(phase)")
            }
        }
    }

    func testResetAfterTheFinalDotMayDuplicateButNeverLoses() throws {
        let r = try run([FaultRule(.reset, at: .phase(.afterFinalDot), connections: [1])])
        XCTAssertEqual(r.accepted.count, 2, "the server accepted before the reset, the client retried")
        XCTAssertEqual(r.outcomes.first?.attempt, 2)
    }

    func testResetWithProbabilityThenLiveness() throws {
        // Faults stop after the window; the retries then get through.
        let r = try run([FaultRule(.resetProbability(Ratio(1, 2)))], {
            $0.faultWindow = 600_000_000_000
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 5)
        })
        XCTAssertEqual(r.statuses, [.delivered])
    }

    func testStallTriggersTheClientTimeout() throws {
        let r = try run([FaultRule(.stall(duration: 3_600_000_000_000), at: .phase(.after354), connections: [1], direction: .serverToClient)])
        XCTAssertTrue(r.has("stall"))
        XCTAssertEqual(r.statuses, [.delivered])
        XCTAssertGreaterThanOrEqual(r.connections, 2)
    }

    func testHalfCloseAndTruncate() throws {
        let half = try run([FaultRule(.halfClose(.serverToClient), at: .phase(.afterMAIL), connections: [1])])
        XCTAssertTrue(half.has("half-close"))
        XCTAssertEqual(half.statuses, [.delivered])
        let truncated = try run([FaultRule(.truncate(.clientToServer), at: .phase(.afterGreeting), connections: [1])])
        XCTAssertTrue(truncated.has("truncate"))
        XCTAssertEqual(truncated.statuses, [.delivered], "the client's timeout ends the silent connection")
    }

    func testTheSeventiethRuleFiresLikeTheFirst() throws {
        // No hidden cap: 69 rules that do nothing on this connection, then a reset that does.
        let idle = (0..<69).map { _ in FaultRule(.stall(duration: 1), at: .phase(.afterMAIL), connections: [99]) }
        let r = try run(idle + [FaultRule(.reset, at: .phase(.afterMAIL), connections: [1])])
        XCTAssertTrue(r.has("reset"), "rule 70 struck")
        XCTAssertEqual(r.connections, 2, "the reset broke the first connection; the retry delivered")
        XCTAssertEqual(r.statuses, [.delivered])
    }

    func testCorruptionChangesTheOctetThePeerReads() throws {
        // Every plaintext segment from client to server on connection 1 has one octet changed:
        // the server reads the changed octet, not the one the client wrote, and acts on it; the
        // retry on the clean connection 2 delivers.
        let r = try simulate(scenario {
            $0.clients[0].configuration.policy = .plaintext
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 2)
            $0.faults = [FaultRule(.corrupt(Ratio(1, 1)), connections: [1], direction: .clientToServer)]
        })
        let events = r.trace.events.filter { $0.connection == 1 }
        guard let k = events.firstIndex(where: { if case .fault("corrupt", _) = $0.kind { true } else { false } }),
            case .fault(_, let detail) = events[k].kind
        else { return XCTFail("no corruption in the trace") }
        // "c>s byte N of a segment: OLD -> NEW"
        let words = detail.split(separator: " ")
        let at = try XCTUnwrap(Int(words[2])), old = try XCTUnwrap(UInt8(words[6])), new = try XCTUnwrap(UInt8(words[8]))
        XCTAssertNotEqual(old, new)
        guard case .plaintext(.clientToServer, _, let written)? = events[..<k].last(where: { if case .plaintext(.clientToServer, _, _) = $0.kind { true } else { false } })?.kind,
            case .delivered(.clientToServer, _, let read)? = events[k...].first(where: { if case .delivered(.clientToServer, _, _) = $0.kind { true } else { false } })?.kind
        else { return XCTFail("no client write and server read around the corruption") }
        XCTAssertEqual(written[at], old, "the octet the client wrote")
        XCTAssertEqual(read[at], new, "is not the octet the server read")
        XCTAssertEqual(Array(read[..<at]) + Array(read[(at + 1)...]), Array(written[..<at]) + Array(written[(at + 1)...]), "and nothing else changed")
        // The server acted on what it read: its first command note is not the client's first line.
        let firstLine = String(decoding: written.prefix { $0 != 0x0D }, as: UTF8.self)
        let serverNotes = events.compactMap { if case .note("server", let t) = $0.kind, t.hasPrefix("command ") || t.hasPrefix("protocol error") { t } else { nil } }
        XCTAssertNotEqual(serverNotes.first, "command \(firstLine)", "\(serverNotes)")
        XCTAssertEqual(r.statuses, [.delivered], "the clean retry delivers")
        XCTAssertEqual(r.connections, 2)
    }

    func testBadReplyAndAsync421() throws {
        let bad = try run([FaultRule(.replaceReply("250-mx\r\n521 oops\r\n"), at: .write(side: .server, pattern: "250-", cut: .afterWrite, epoch: 0), connections: [1])])
        XCTAssertTrue(bad.has("replace-reply"))
        XCTAssertEqual(bad.statuses, [.delivered])
        let shutdown = try run([FaultRule(.async421, at: .phase(.afterRCPT), connections: [1])])
        XCTAssertTrue(shutdown.has("async-421"))
        XCTAssertEqual(shutdown.statuses, [.delivered])
    }

    func testForcedHandshakeFailure() throws {
        let r = try simulate(scenario {
            $0.clients[0].configuration.policy = .required
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1, maximumAttempts: 1)
            $0.faults = [FaultRule(.failHandshake(.certificateExpired))]
        })
        XCTAssertEqual(r.statuses, [.temporaryFailure])
        XCTAssertEqual(r.outcomes.first?.tlsResultType, .certificateExpired)
        XCTAssertEqual(r.findings, [])
    }

    func testRefusedAndTimedOutConnections() throws {
        let refused = try run([FaultRule(.refuseConnection, connections: [1])])
        XCTAssertEqual(refused.statuses, [.delivered])
        XCTAssertEqual(refused.connections, 2)
        let timeout = try run([FaultRule(.connectTimeout(30_000_000_000), connections: [1, 2])])
        XCTAssertEqual(timeout.statuses, [.delivered])
        XCTAssertEqual(timeout.outcomes.first?.attempt, 3)
    }

    func testMidHandshakeResetAndTLSStart() throws {
        for phase in [ProtocolPhase.midHandshake, .afterSTARTTLS220] {
            let r = try run([FaultRule(.reset, at: .phase(phase), connections: [1])], { $0.clients[0].configuration.policy = .required })
            XCTAssertTrue(r.has("reset"), "\(phase)")
            XCTAssertEqual(r.statuses, [.delivered], "\(phase)")
        }
    }
}

final class SwarmTests: XCTestCase {
    func testSwarmIsDeterministicPerSeedAndRunsEndInOutcomes() throws {
        let swarm = FaultSwarm([
            .init(FaultRule(.reset, connections: [1]), probability: Ratio(1, 2), randomPhase: true),
            .init(FaultRule(.split(maxSegment: 40)), probability: Ratio(1, 2), randomDuration: true),
            .init(FaultRule(.stall(duration: 600_000_000_000), at: .phase(.afterMAIL), connections: [1]), probability: Ratio(1, 4), randomDuration: true),
            .init(FaultRule(.latency(min: 0, max: 100_000_000)), probability: Ratio(1, 2), randomDuration: true),
        ])
        XCTAssertEqual(swarm.choose(seed: 5), swarm.choose(seed: 5))
        var mixes = Set<Int>()
        for seed in UInt64(1)...24 {
            let faults = swarm.choose(seed: seed)
            mixes.insert(faults.count)
            let r = try simulate(scenario(seed: seed) {
                $0.faults = faults
                $0.faultWindow = 3_600_000_000_000
            })
            XCTAssertEqual(r.outcomes.count, 1, "seed \(seed)")
            XCTAssertEqual(r.statuses, [.delivered], "seed \(seed): liveness after the fault window\n\(r.trace.text)")
            XCTAssertEqual(r.findings, [], "seed \(seed)")
            XCTAssertLessThanOrEqual(r.accepted.count, 2, "at most one duplicate")
        }
        XCTAssertGreaterThan(mixes.count, 2, "seeds choose different mixes")
    }
}
