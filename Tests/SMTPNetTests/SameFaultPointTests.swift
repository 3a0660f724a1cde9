import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import XCTest

@testable import SMTPNet

/// The same fault rule, run once in the simulator and once over loopback sockets (smtpsim's
/// server carrying it out on its end of the stream), strikes at the same protocol point: the
/// server has read the same commands and accepted the same messages when it strikes, and the
/// client ends with the same outcomes. Both consult the one `TriggerTracker`.
final class SameFaultPointTests: XCTestCase {
    /// What a run shows of where a fault struck.
    struct Point: Equatable, CustomStringConvertible {
        /// The server's "command …" and "accepted …" notes before the first fault.
        var before: [String]
        /// Every "accepted …" note of the run.
        var accepted: [String]
        /// Per message: status, and whether a duplicate is possible.
        var outcomes: [String]
        var description: String { "before the fault: \(before)\naccepted: \(accepted)\noutcomes: \(outcomes)" }
    }

    static let messages = [
        OutgoingMessage(id: "m1", from: .mailbox(try! Mailbox("alice@example.test")), to: [.mailbox(try! Mailbox("bob@example.net"))],
                        body: Array("Subject: one\r\n\r\nThe first message.\r\n".utf8)),
        OutgoingMessage(id: "m2", from: .mailbox(try! Mailbox("alice@example.test")), to: [.mailbox(try! Mailbox("carol@example.net"))],
                        body: Array("Subject: two\r\n\r\nThe second message, long enough to be cut in the middle.\r\n".utf8)),
    ]

    static var serverConfiguration: ServerConfiguration {
        var c = ServerConfiguration()
        c.hostname = "localhost"
        return c
    }

    static var clientConfiguration: ClientConfiguration {
        var c = ClientConfiguration()
        c.serverName = "localhost"
        c.policy = .opportunistic
        c.timeouts = ClientTimeouts(uniform: 1_000_000_000)
        c.retry = RetryPolicy(maximumAttempts: 1)
        return c
    }

    static func isLandmark(_ note: String) -> Bool { note.hasPrefix("command ") || note.hasPrefix("accepted ") }

    static func outcomes(_ list: [MessageOutcome]) -> [String] {
        list.map { "\($0.messageID) \($0.status.rawValue)\($0.possibleDuplicate ? " possible-duplicate" : "")" }
    }

    func simulated(_ rule: FaultRule) throws -> Point {
        var configuration = SimulationConfiguration(seed: 1)
        configuration.server.configuration = Self.serverConfiguration
        configuration.clients = [ClientSpec(configuration: Self.clientConfiguration, messages: Self.messages, trust: .none)]
        configuration.faults = [rule]
        let result = try World(configuration: configuration).run()
        var before: [String] = []
        var accepted: [String] = []
        var struck = false
        for event in result.trace.events where event.connection == 1 {
            switch event.kind {
            case .fault: struck = true
            case .note("server", let text) where Self.isLandmark(text):
                if !struck { before.append(text) }
                if text.hasPrefix("accepted ") { accepted.append(text) }
            default: break
            }
        }
        XCTAssertTrue(struck, "the fault never struck in the simulator")
        return Point(before: before, accepted: accepted, outcomes: Self.outcomes(result.outcomes))
    }

    func overSockets(_ rule: FaultRule) async throws -> Point {
        var server = NetServer(listen: HostPort(host: "127.0.0.1", port: 0), configuration: Self.serverConfiguration, identity: Loopback.identity())
        server.limits = SessionLimits(sessionSeconds: 20)
        server.maximumConnections = 1
        server.faultRules = [rule]
        let events = EventBox()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            try? await server.run(ready: { continuation.yield($0) }, log: { _, event in events.add(event) })
            continuation.finish()
        }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw NetError.setup("server did not start") }
        var client = NetClient(server: HostPort(host: "127.0.0.1", port: port), configuration: Self.clientConfiguration)
        client.connectTimeout = 5
        client.limits = SessionLimits(sessionSeconds: 20)
        let report = try await client.deliver(Self.messages) { _ in }
        var before: [String] = []
        var accepted: [String] = []
        var struck = false
        for event in events.all {
            switch event {
            case .fault: struck = true
            case .note(let text) where Self.isLandmark(text):
                if !struck { before.append(text) }
                if text.hasPrefix("accepted ") { accepted.append(text) }
            default: break
            }
        }
        XCTAssertTrue(struck, "the fault never struck over the socket")
        return Point(before: before, accepted: accepted, outcomes: Self.outcomes(report.outcomes))
    }

    func assertSamePoint(_ rule: FaultRule, file: StaticString = #filePath, line: UInt = #line) async throws -> Point {
        let simulation = try simulated(rule)
        let sockets = try await overSockets(rule)
        XCTAssertEqual(simulation, sockets, "\(rule)", file: file, line: line)
        return simulation
    }

    func testResetAfterTheFinalDotStrikesAtTheSamePoint() async throws {
        let point = try await assertSamePoint(FaultRule(.reset, at: .phase(.afterFinalDot)))
        XCTAssertEqual(point.accepted.count, 1, "the dot arrived, the reply was lost: \(point)")
        XCTAssertEqual(point.outcomes, ["m1 temporary-failure possible-duplicate", "m2 temporary-failure"])
    }

    func testStallAfterRCPTStrikesAtTheSamePoint() async throws {
        let point = try await assertSamePoint(FaultRule(.stall(duration: 3_000_000_000), at: .phase(.afterRCPT)))
        XCTAssertEqual(point.accepted, [])
        XCTAssertFalse(point.before.contains { $0.hasPrefix("command MAIL") }, "the stall holds MAIL and RCPT: \(point)")
        XCTAssertEqual(point.outcomes, ["m1 temporary-failure", "m2 temporary-failure"])
    }

    func testResetMidBodyOfTheSecondMessageStrikesAtTheSamePoint() async throws {
        let point = try await assertSamePoint(FaultRule(.reset, at: .phase(.midBody), occurrence: 2))
        XCTAssertEqual(point.accepted.count, 1, "\(point)")
        XCTAssertEqual(point.before.filter { $0.hasPrefix("command DATA") }.count, 2, "the second DATA was read: \(point)")
        // The client wrote the whole body and its dot before the break: it cannot know.
        XCTAssertEqual(point.outcomes, ["m1 delivered", "m2 temporary-failure possible-duplicate"])
    }
}

final class EventBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [WireEvent] = []
    func add(_ event: WireEvent) { lock.withLock { storage.append(event) } }
    var all: [WireEvent] { lock.withLock { storage } }
}
