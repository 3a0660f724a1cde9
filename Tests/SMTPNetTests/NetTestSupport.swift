import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import XCTest

@testable import SMTPNet

/// Loopback plumbing for the real-socket tests: servers on port 0, started and stopped by the
/// test, every wait bounded by the sessions' own limits (no sleeps).
enum Loopback {
    static let factory = try! CertificateFactory(seed: 7, epoch: Int64(Date().timeIntervalSince1970) / 86_400 * 86_400)

    static func identity(_ variant: CertificateFactory.Variant = .valid) -> TLSIdentity {
        try! factory.serverIdentity(hostname: "localhost", variant: variant)
    }

    static func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-net-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    static func server(flaws: Set<ServerFlaw> = [], credentials: [String: String] = [:], tls: Bool = true) -> NetServer {
        var configuration = ServerConfiguration()
        configuration.hostname = "localhost"
        configuration.flaws = flaws
        configuration.credentials = credentials
        var server = NetServer(listen: HostPort(host: "127.0.0.1", port: 0), configuration: configuration, identity: tls ? identity() : nil)
        server.limits = SessionLimits(sessionSeconds: 20)
        return server
    }

    /// Runs `server` until `body` is done; `body` gets its port. The log is collected.
    static func with<T: Sendable>(_ server: NetServer, _ body: @Sendable (Int) async throws -> T) async throws -> (T, [String]) {
        let log = LogBox()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            do {
                try await server.run(ready: { continuation.yield($0) }, log: { id, event in Dialogue(ours: .server).lines(event).forEach { log.add("\(id) \($0)") } })
            } catch {
                continuation.finish()
                log.add("server failed: \(error)")
            }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw NetError.setup("server did not start: \(log.lines)") }
        defer { task.cancel() }
        let result = try await body(port)
        return (result, log.lines)
    }

    static func client(port: Int, policy: TLSPolicy, trust: TrustPolicy, credentials: Credentials? = nil) -> NetClient {
        var configuration = ClientConfiguration()
        configuration.serverName = "localhost"
        configuration.policy = policy
        configuration.credentials = credentials
        // A reply that never comes (a confused peer) ends the attempt in seconds, not minutes.
        configuration.timeouts = ClientTimeouts(uniform: 3_000_000_000)
        var client = NetClient(server: HostPort(host: "127.0.0.1", port: port), configuration: configuration)
        client.trust = trust
        client.connectTimeout = 5
        client.limits = SessionLimits(sessionSeconds: 20)
        return client
    }

    static func message(_ body: String = "Subject: hello\r\n\r\nHello over a real socket.\r\n.leading dot\r\n") -> OutgoingMessage {
        OutgoingMessage(id: "m1", from: .mailbox(try! Mailbox("alice@example.test")), to: [.mailbox(try! Mailbox("bob@example.net"))], body: Array(body.utf8))
    }
}

final class LogBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func add(_ line: String) { lock.withLock { storage.append(line) } }
    var lines: [String] { lock.withLock { storage } }
}
