import EndpointHosting
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

    /// A server that reads on in the clear after close_notify: the socket learner reads each
    /// cleartext reply once (the in-memory machine, NOOP after NOOP answered `clear:250` each).
    func testTheCleartextAfterCloseNotifyIsLearnedAsInMemory() async throws {
        let inputs: [LearningInput] = [.ehlo, .starttls, .handshake, .closeNotify, .noop]
        let budget = { var b = Learner.Budget(); b.walks = 20; return b }()
        let server = Loopback.server(flaws: [.readsPlaintextAfterCloseNotify])
        let (socketMachine, _) = try await Loopback.with(server) { port in
            try await Task.detached {
                try Learner(system: SocketServer(server: HostPort(host: "127.0.0.1", port: port), inputs: inputs, timeout: 3, quiet: 0.1, parallel: 4), budget: budget).learn()
            }.value
        }
        let memory = try Learner(system: InMemoryServer(configuration: server.configuration, inputs: inputs), budget: budget).learn()
        XCTAssertEqual(socketMachine, memory, "socket:\n\(socketMachine.dot())\nmemory:\n\(memory.dot())")
        let i = { (name: LearningInput) in inputs.firstIndex(of: name)! }
        XCTAssertEqual(memory.run([i(.ehlo), i(.starttls), i(.handshake), i(.closeNotify), i(.noop), i(.noop)]).suffix(2), ["clear:250", "clear:250"])
    }

    /// A learned difference's script (`learn --export`) run on a socket (`run --against`): it
    /// answers as learned on the flawed server, and the compliant one misses it at the flaw.
    func testAnExportedScriptReproducesOnTheServerAndNotOnTheCompliantOne() async throws {
        let word: [LearningInput] = [.ehlo, .starttls, .handshake, .ehlo, .closeNotify, .noop]
        let outputs = ["250(STARTTLS)", "220", "tls", "250(STARTTLS,AUTH)", "", "clear:250"]
        let steps = LearnedScript.steps(word, outputs: outputs)
        func notes(_ flaws: Set<ServerFlaw>) async throws -> [String] {
            let (run, _) = try await Loopback.with(Loopback.server(flaws: flaws, credentials: ["learner": "secret"])) { port in
                try await SocketScript.run(steps, against: HostPort(host: "127.0.0.1", port: port), timeout: 2)
            }
            return run.notes
        }
        let flawed = try await notes([.advertisesStartTLSAfterTLS, .readsPlaintextAfterCloseNotify])
        XCTAssertEqual(flawed, [])
        let compliant = try await notes([])
        XCTAssertEqual(compliant.first, #"script: expected "250 with STARTTLS with AUTH", got "250-localhost Hello learner.smtpsim.test\n250-PIPELINING\n250-SIZE 10485760\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250 AUTH PLAIN LOGIN""#, "\(compliant)")
        XCTAssertEqual(compliant.count, 2, "and after close_notify the connection is over: \(compliant)")
    }
}
