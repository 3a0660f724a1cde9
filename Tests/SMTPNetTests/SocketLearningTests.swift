import SMTPLearning
import SMTPServer
import XCTest

@testable import SMTPNet

/// Issue 19: learning a server on a real socket gives the machine learned in memory, for
/// smtpsim's own server on loopback (TLS with a certificate there, PSK in memory: the same
/// outputs).
final class SocketLearningTests: XCTestCase {
    func testTheSocketLearnedServerIsTheInMemoryMachine() async throws {
        let inputs: [LearningInput] = [.ehlo, .starttls, .handshake, .starttlsPipelined, .noop, .quit]
        let budget = { var b = Learner.Budget(); b.walks = 0; return b }()
        let server = Loopback.server()
        let ((socketMachine, _), _) = try await Loopback.with(server) { port in
            try await Task.detached {  // the learner waits on its own thread for each socket query
                let learner = Learner(system: SocketServer(server: HostPort(host: "127.0.0.1", port: port), inputs: inputs, timeout: 3, quiet: 0.1), budget: budget)
                let machine = try learner.learn()
                return (machine, learner.queries)
            }.value
        }
        let memory = try Learner(system: InMemoryServer(configuration: server.configuration, inputs: inputs), budget: budget).learn()
        XCTAssertEqual(socketMachine, memory, "socket:\n\(socketMachine.dot())\nmemory:\n\(memory.dot())")
        XCTAssertEqual(memory.stateCount, 5)
    }
}
