import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import XCTest

#if canImport(Glibc)
import Glibc
#endif

@testable import SMTPNet

/// `serve` under connection pressure (issue 16): idle connections never lock a real client out.
final class ConnectionPressureTests: XCTestCase {
    /// Idle TCP connections to `port` from `sources` (loopback addresses: all of 127/8 is local),
    /// `count` of them, round robin; closed by `close(_:)`.
    static func idle(_ count: Int, from sources: [String], to port: Int) throws -> [Int32] {
        var fds: [Int32] = []
        for i in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw NetError.setup("socket: \(errno)") }
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, sources[i % sources.count], &local.sin_addr)
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
            let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, connected == 0 else {
                Glibc.close(fd)
                throw NetError.setup("bind/connect from \(sources[i % sources.count]): \(errno)")
            }
            fds.append(fd)
        }
        return fds
    }

    static func close(_ fds: [Int32]) { for fd in fds { Glibc.close(fd) } }

    /// The real client: it may wait for a slot, so each wait is bounded at 12 s (the issue's
    /// "served within 15 s"), not the other tests' 3 s.
    static func client(_ port: Int) -> NetClient {
        var client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors))
        client.configuration.timeouts = ClientTimeouts(uniform: 12_000_000_000)
        client.connectTimeout = 12
        return client
    }

    func server(_ configure: (inout ConnectionLimits) -> Void) -> NetServer {
        var server = Loopback.server()
        configure(&server.connectionLimits)
        return server
    }

    func testTwoHundredIdleConnectionsFromOneAddressLeaveRoomForARealClient() async throws {
        let server = server {
            $0.maximumPerClient = 16
            $0.exemptLoopback = false  // 127.0.0.2 is loopback: held to the limit here on purpose
        }
        let (report, log) = try await Loopback.with(server) { port in
            let flood = try Self.idle(200, from: ["127.0.0.2"], to: port)
            defer { Self.close(flood) }
            return try await Self.client(port).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(log.contains { $0.contains("refused: 16 connections from 127.0.0.2 already open") }, "\(log.suffix(5))")
    }

    func testAFloodFromManyAddressesIsTrimmedUnderStress() async throws {
        // 200 addresses: the per-client limit cannot help; stress cuts idle sessions to a second.
        let server = server {
            $0.maximumConcurrent = 64
            $0.stressIdleSeconds = 1
            $0.admissionWait = 12
            $0.maximumWaiting = 256
        }
        let sources = (2..<202).map { "127.0.0.\($0 % 250 + 2)" }
        let (report, log) = try await Loopback.with(server) { port in
            let flood = try Self.idle(200, from: sources, to: port)
            defer { Self.close(flood) }
            return try await Self.client(port).deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered], "\(log.suffix(8))")
        XCTAssertTrue(log.contains { $0.contains("421 localhost Error: timeout exceeded") }, "idle sessions were let go under stress")
    }

    /// A trickle of one octet per `interval` on each of `fds` (`EHLO …`, then an endless `MAIL
    /// FROM:<aaa…`), from a thread of its own, until `stop` or `seconds`.
    final class Trickle: @unchecked Sendable {
        private let lock = NSLock()
        private var stopped = false
        func stop() { lock.withLock { stopped = true } }
        var isStopped: Bool { lock.withLock { stopped } }

        func start(_ fds: [Int32], interval: Double = 0.25, seconds: Double = 30) {
            let text = Array("EHLO slow.example\r\nMAIL FROM:<".utf8) + Array(repeating: UInt8(ascii: "a"), count: 10_000)
            Thread.detachNewThread { [self] in
                let end = Date().addingTimeInterval(seconds)
                var k = 0
                while !isStopped, Date() < end, k < text.count {
                    for fd in fds { _ = withUnsafePointer(to: text[k]) { send(fd, $0, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } }
                    k += 1
                    Thread.sleep(forTimeInterval: interval)
                }
            }
        }
    }

    /// Issue 27: connections that trickle a command line an octet at a time, from as many
    /// addresses as there are slots (64) and more (200), no longer lock a fresh client out: the
    /// line deadline closes them and a fresh connection evicts the one that made the least
    /// progress. The time to serve the client is printed (the note's figures).
    func testSlowlorisConnectionsNeitherLiveForeverNorLockAFreshClientOut() async throws {
        for count in [64, 200] {
            let server = server {
                $0.maximumConcurrent = 64
                $0.admissionWait = 12
            }
            let sources = (0..<count).map { "127.0.\(1 + $0 / 250).\(2 + $0 % 250)" }
            let trickle = Trickle()
            let ((report, took), log) = try await Loopback.with(server) { port in
                let flood = try Self.idle(count, from: sources, to: port)
                defer { trickle.stop(); Self.close(flood) }
                trickle.start(flood)
                try await Task.sleep(for: .seconds(3))  // every slot trickling, past --evict-after
                let start = ContinuousClock.now
                let report = try await Self.client(port).deliver([Loopback.message()]) { _ in }
                return (report, (ContinuousClock.now - start) / .seconds(1))
            }
            print("slowloris \(count): a fresh client served in \(String(format: "%.2f", took)) s")
            XCTAssertEqual(report.outcomes.map(\.status), [.delivered], "\(count): \(log.suffix(8))")
            XCTAssertLessThan(took, 8, "\(count): served within seconds, not after the 12 s admission wait")
            XCTAssertTrue(log.contains { $0.contains("evicted") }, "\(count): a trickling session gave its slot up")
        }
    }

    /// The server's idle timer runs from the last completed line: a session trickling one line
    /// is closed when the timeout (here 2 s) runs out, whatever arrives meanwhile.
    func testATrickledLineMeetsTheIdleTimeout() async throws {
        var server = Loopback.server()
        server.configuration.timeouts.command = 2_000_000_000
        let trickle = Trickle()
        let (_, log) = try await Loopback.with(server) { port in
            let fds = try Self.idle(1, from: ["127.0.0.1"], to: port)
            defer { trickle.stop(); Self.close(fds) }
            trickle.start(fds, interval: 0.1)
            try await Task.sleep(for: .seconds(4.5))
        }
        XCTAssertTrue(log.contains { $0.contains("421") && $0.contains("timeout") }, "\(log.suffix(6))")
    }

    /// An idle flood from 200 addresses (and one of 1,000) no longer wins every freed slot: a
    /// fresh client takes the slot of the longest-idle session at once.
    func testAnIdleFloodNoLongerWinsTheQueue() async throws {
        for count in [200, 1000] {
            let server = server {
                $0.maximumConcurrent = 64
                $0.admissionWait = 12
                $0.maximumWaiting = 2000
            }
            let sources = (0..<count).map { "127.0.\(1 + $0 / 250).\(2 + $0 % 250)" }
            let ((report, took), log) = try await Loopback.with(server) { port in
                let flood = try Self.idle(count, from: sources, to: port)
                defer { Self.close(flood) }
                try await Task.sleep(for: .seconds(3))
                let start = ContinuousClock.now
                let report = try await Self.client(port).deliver([Loopback.message()]) { _ in }
                return (report, (ContinuousClock.now - start) / .seconds(1))
            }
            print("idle flood \(count): a fresh client served in \(String(format: "%.2f", took)) s")
            XCTAssertEqual(report.outcomes.map(\.status), [.delivered], "\(count): \(log.suffix(8))")
            XCTAssertLessThan(took, 8, "\(count)")
        }
    }

    /// 32 clients at once from 127.0.0.1 (a CI job): none refused by the per-client limit.
    func testThirtyTwoParallelClientsFromLoopbackAreAllServed() async throws {
        var server = Loopback.server()
        server.connectionLimits.maximumPerClient = 16
        let (statuses, log) = try await Loopback.with(server) { port in
            try await withThrowingTaskGroup(of: [DeliveryStatus].self) { group in
                for _ in 0..<32 {
                    group.addTask { try await Self.client(port).deliver([Loopback.message()]) { _ in }.outcomes.map(\.status) }
                }
                var all: [DeliveryStatus] = []
                for try await s in group { all += s }
                return all
            }
        }
        XCTAssertEqual(statuses, Array(repeating: .delivered, count: 32), "\(log.filter { $0.contains("421") }.prefix(3))")
        XCTAssertFalse(log.contains { $0.contains("too many connections from your address") })
    }

    /// A waiting connection takes the slot of a session that stalls while it waits; the newest
    /// waiter is served first.
    func testAWaiterEvictsAStalledSessionAndTheNewestWaiterGoesFirst() async {
        var limits = ConnectionLimits()
        limits.maximumConcurrent = 1
        limits.admissionWait = 5
        limits.evictAfterSeconds = 0.3
        let pressure = ConnectionPressure(limits)
        let evicted = Counter()
        let first = await pressure.admit("10.0.0.1")
        pressure.started("C1") { evicted.add() }
        XCTAssertEqual(first, .admitted)
        let start = ContinuousClock.now
        let second = await pressure.admit("10.0.0.2")  // C1 made progress just now: waits, then evicts
        XCTAssertEqual(second, .admitted)
        XCTAssertEqual(evicted.value, 1)
        XCTAssertGreaterThanOrEqual((ContinuousClock.now - start) / .seconds(1), 0.25)
        pressure.release("10.0.0.1", id: "C1")  // the evicted session ends: its slot was handed over
        XCTAssertEqual(pressure.open, 1)
        // Two waiters for the one slot: the newer one gets it when it frees.
        async let older = pressure.admit("10.0.0.3")
        try? await Task.sleep(for: .milliseconds(50))
        async let newer = pressure.admit("10.0.0.4")
        try? await Task.sleep(for: .milliseconds(50))
        pressure.release("10.0.0.2")
        let n = await newer
        XCTAssertEqual(n, .admitted)
        pressure.release("10.0.0.4")
        let o = await older
        XCTAssertEqual(o, .admitted)
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func add() { lock.withLock { n += 1 } }
        var value: Int { lock.withLock { n } }
    }

    func testAdmissionCountsAndReleases() async {
        var limits = ConnectionLimits()
        limits.maximumConcurrent = 2
        limits.maximumPerClient = 1
        limits.admissionWait = 0.2
        let pressure = ConnectionPressure(limits)
        let a = await pressure.admit("10.0.0.1")
        let again = await pressure.admit("10.0.0.1")
        XCTAssertEqual([a, again], [.admitted, .tooManyFromClient])
        let b = await pressure.admit("10.0.0.2")
        XCTAssertEqual(b, .admitted)
        XCTAssertTrue(pressure.stressed, "at the threshold")
        let c = await pressure.admit("10.0.0.3")
        XCTAssertEqual(c, .full, "waited 0.2 s for a slot")
        pressure.release("10.0.0.1")
        let d = await pressure.admit("10.0.0.3")
        XCTAssertEqual(d, .admitted)
        XCTAssertEqual(pressure.open, 2)
    }
}
