import EndpointHosting
import Foundation
import SMTPCore
import SMTPLearning

/// `smtpsim learn HOST:PORT`: a real server as the system under learning (issue 19). Each query
/// is a fresh connection (`ScriptedConnection`); each input waits for a first reply at most
/// `quiet` seconds (its output is then `timeout`) and for more replies `more` seconds after the
/// last one. The same outputs as `InMemoryServer`; the handshake does not check certificates
/// (the learner tests the server's SMTP, not its PKI).
public final class SocketServer: SystemUnderLearning, Sendable {
    public let server: HostPort
    public let inputs: [LearningInput]
    /// Seconds to connect, for the greeting and for the handshake.
    public let timeout: Double
    /// Seconds an input may go unanswered before its output is `timeout`.
    public let quiet: Double
    /// Seconds to wait for a further reply after one came (pipelined inputs answer twice).
    public let more: Double
    /// The server speaks implicit TLS (RFC 8314 §3): each query's connection starts with the
    /// handshake and the greeting is read inside it (`starttls` is then answered `tls-active`).
    public let implicitTLS: Bool

    public var alphabet: [String] { inputs.map(\.rawValue) }

    public init(server: HostPort, inputs: [LearningInput] = LearningInput.allCases, timeout: Double = 5, quiet: Double = 0.1, more: Double = 0.02, parallel: Int = 1, implicitTLS: Bool = false) {
        self.implicitTLS = implicitTLS
        self.server = server
        concurrentQueries = max(1, parallel)
        self.inputs = inputs
        self.timeout = timeout
        self.quiet = quiet
        self.more = more
    }

    /// The learner is synchronous; the socket is not: each query runs as a task and the caller's
    /// thread waits for it (the learner runs on its own thread, never in the task pool).
    public func query(_ word: [Int]) throws -> [String] {
        let words = word.map { inputs[$0] }
        return try blocking { [self] in try await self.run(words) }
    }

    /// Connections open at once for a batch of queries (`learn --parallel`): each query waits
    /// mostly for `quiet` windows, so they overlap.
    public let concurrentQueries: Int

    public func query(batch words: [[Int]]) throws -> [[String]] {
        let batch = words.map { $0.map { inputs[$0] } }
        let width = concurrentQueries
        return try blocking { [self] in
            try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                var answers = [[String]](repeating: [], count: batch.count)
                var next = 0
                while next < min(width, batch.count) {
                    let i = next
                    group.addTask { (i, try await self.run(batch[i])) }
                    next += 1
                }
                while let (i, answer) = try await group.next() {
                    answers[i] = answer
                    if next < batch.count {
                        let j = next
                        group.addTask { (j, try await self.run(batch[j])) }
                        next += 1
                    }
                }
                return answers
            }
        }
    }

    /// Attempts at a query whose connection the server turned away with 421 (busy: too many
    /// connections at once from the learner), a backoff of 0.2 s × the attempt between them.
    static let busyAttempts = 6

    struct NoImplicitTLS: Error, CustomStringConvertible {
        var description: String { "the implicit-TLS handshake failed: does the server speak implicit TLS on this port?" }
    }

    struct Busy: Error, CustomStringConvertible {
        var description: String { "the server keeps answering 421 (busy): learn with a lower --parallel" }
    }

    func run(_ word: [LearningInput]) async throws -> [String] {
        for attempt in 1...Self.busyAttempts {
            if let answer = try await ask(word) { return answer }
            try await Task.sleep(nanoseconds: UInt64(attempt) * 200_000_000)
        }
        throw Busy()
    }

    /// One query on a fresh connection; nil when the greeting was 421 (ask again).
    private func ask(_ word: [LearningInput]) async throws -> [String]? {
        try await ScriptedConnection.with(server, timeout: timeout) { [implicitTLS] c in
            if implicitTLS, try await !c.handshake() { throw NoImplicitTLS() }
            guard let greeting = try await c.reply() else { return word.map { _ in "closed" } }
            if greeting.n == 421 { return nil }
            guard greeting.n / 100 == 2 else { return word.map { _ in "closed" } }
            var out: [String] = []
            var query = LearningQuery()
            for input in word {
                var parts: [String] = []
                var replies: [SMTPReply] = []
                var clear: [SMTPReply] = []
                do {
                    let step = query.step(input, open: !c.peerClosed, tlsActive: c.tlsVersion != nil)
                    switch step {
                    case .answered(let output):
                        out.append(output)
                        continue
                    case .handshake:
                        // A server that is not in TLS reads the ClientHello as a command line
                        // and waits for its end: the handshake fails when nothing comes back soon.
                        parts.append(query.handshook(try await c.handshake(within: min(timeout, max(1, 10 * quiet)))))
                    case .end(let event):
                        if let part = query.ended(try await c.perform(event)) { parts.append(part) }
                    case .send(let octets): try await c.send(octets)
                    case .sendRaw(let octets): try await c.sendRaw(octets)
                    }
                    if query.tlsEnded {
                        let (_, cleartext, _) = await c.afterTLSEnd(window: quiet)
                        var parser = ReplyParser()
                        parser.append(cleartext)
                        while let reply = try? parser.next() { clear.append(reply) }
                    } else if !query.over {
                        // After the learner's own TLS step nothing is asked of the server: only
                        // what is already on its way is read.
                        var tlsStep = true
                        if case .send = step { tlsStep = false }
                        while let reply = try await c.reply(timeout: tlsStep || !replies.isEmpty || parts.contains { $0.first?.isNumber == true } ? more : quiet) {
                            replies.append(reply)
                        }
                    }
                } catch {
                    query.broke()  // the connection broke under the input
                    parts.append("closed")
                    out.append(parts.joined(separator: "+"))
                    continue
                }
                // After a failed handshake the connection is over whatever the server did with it.
                out.append(query.output(parts, replies: replies, clear: clear, closed: c.peerClosed && (query.tlsEnded || !query.over)))
            }
            try? await c.send("QUIT\r\n")
            return out
        }
    }
}
