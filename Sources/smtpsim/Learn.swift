import ArgumentParser
import Foundation
import SMTPLearning
import SMTPNet
import SMTPServer

extension LearningInput: ExpressibleByArgument {}

/// `smtpsim learn`: a server's SMTP/STARTTLS Mealy machine from queries alone (issue 19).
struct Learn: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learn a server's SMTP/STARTTLS state machine (L*) and compare it with the compliant one.",
        discussion: Help.reflow("""
            HOST:PORT learns a real server, each query on a fresh connection (an input unanswered
            for --quiet seconds outputs timeout; the handshake checks no certificate); --in-memory
            learns smtpsim's own server (with --server-flaw profiles) through the endpoint host,
            without sockets, TLS by OpenSSL. Inputs: \(LearningInput.allCases.map(\.rawValue).joined(separator: ", ")) (--inputs picks some);
            outputs are reply codes (an EHLO reply with its STARTTLS and AUTH marks), tls /
            tls-failed, timeout (no reply), closed, and clear:CODE for a reply in the clear after
            the TLS session ended. Each query runs on a fresh connection, answered from a cache
            where it can; equivalence is checked by the W-method to --depth and --walks seeded
            random walks; --repeat asks each word again and reports answers that differ.
            --diff REF.json lists the shortest input words on which the machine and a machine
            learned before (`--format json`) disagree. Exit status 1 when they disagree.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, dot, json }

    @Argument(help: "The server, HOST:PORT.") var server: String?
    @Flag(help: "Learn smtpsim's own server, in memory.") var inMemory = false
    @Option(help: "With HOST:PORT: seconds an input may go unanswered before its output is timeout (a server that delays its replies needs more).") var quiet = 0.1
    @Option(help: "With HOST:PORT: seconds to connect, for the greeting and the handshake.") var timeout = 5.0
    @Option(help: "Server flaw profile (repeatable): \(listed(ServerFlaw.self)).") var serverFlaw: [ServerFlaw] = []
    @Option(parsing: .upToNextOption, help: "The input alphabet (default: all).") var inputs: [LearningInput] = []
    @Option(help: "The W-method's depth.") var depth = 1
    @Option(help: "Random walks after the W-method.") var walks = 300
    @Option(help: "How often each new word is asked (2+: nondeterminism is reported).") var `repeat` = 1
    @Option(help: "Queries the server may be asked.") var maxQueries = 200_000
    @Option(help: "Seconds learning may take (then the last hypothesis is reported, marked incomplete).") var maxSeconds: Double = 600
    @Option(help: "Seed of the random walks.") var seed: UInt64 = 1
    @Option(help: "Output: text, dot (Graphviz) or json.") var format: Format = .text
    @Option(help: "Write the output here.") var output: String?
    @Option(help: "Also write the machine as SVG (Graphviz's dot).") var svg: String?
    @Option(help: "A machine learned before (--format json) to compare with.") var diff: String?

    func validate() throws {
        guard inMemory != (server != nil) else { throw ValidationError("give a server (HOST:PORT) or --in-memory, not both") }
        if server != nil, !serverFlaw.isEmpty { throw ValidationError("--server-flaw applies to --in-memory (smtpsim's own server)") }
    }

    /// `--format json`: the machine and how it was learned.
    struct Document: Codable {
        var system: String
        var machine: MealyMachine
        var states: Int
        var queries: Int
        var cacheHits: Int
        var rounds: Int
        var seconds: Double
        var queriesPerSecond: Double
        var counterexamples: [[String]]
        var nondeterminism: [Learner.Nondeterminism]
        /// Why the equivalence checks did not finish (a budget); nil when they did.
        var incomplete: String?
    }

    func run() throws {
        let alphabet = inputs.isEmpty ? LearningInput.allCases : inputs
        let system: SystemUnderLearning
        if let server {
            system = SocketServer(server: try NetCLI.address(server, defaultPort: 25), inputs: alphabet, timeout: timeout, quiet: max(0.01, quiet))
        } else {
            var configuration = InMemoryServer.reference
            configuration.flaws = Set(serverFlaw)
            system = try InMemoryServer(configuration: configuration, inputs: alphabet)
        }
        var budget = Learner.Budget()
        budget.depth = max(0, depth)
        budget.walks = max(0, walks)
        budget.repeats = max(1, `repeat`)
        budget.queries = max(1, maxQueries)
        let learner = Learner(system: system, budget: budget, seed: seed)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(max(0, maxSeconds) * 1000))
        learner.shouldStop = { clock.now > deadline }
        learner.progress = { round, states, queries in
            let t = (clock.now - start) / .seconds(1)
            FileHandle.standardError.write(Data(String(format: "[learn] round %d: %d states, %d queries, %.1f s\n", round, states, queries, t).utf8))
        }
        let machine = try learner.learn()
        let seconds = (clock.now - start) / .seconds(1)
        let name = server ?? ("smtpsim server" + (serverFlaw.isEmpty ? "" : " (" + serverFlaw.map(\.rawValue).joined(separator: ", ") + ")"))
        let document = Document(system: name, machine: machine, states: machine.stateCount, queries: learner.queries, cacheHits: learner.cacheHits,
                                rounds: learner.rounds, seconds: (seconds * 1000).rounded() / 1000,
                                queriesPerSecond: (Double(learner.queries) / max(seconds, 1e-9)).rounded(),
                                counterexamples: learner.counterexamples, nondeterminism: learner.nondeterminism,
                                incomplete: learner.stoppedBecause)
        var text: String
        switch format {
        case .dot: text = machine.dot(name: name)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            text = String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
        case .text:
            text = "\(name): \(machine.stateCount) states, \(machine.inputs.count) inputs; \(learner.queries) queries (\(learner.cacheHits) from the cache), "
                + "\(learner.rounds) round(s), \(String(format: "%.2f", seconds)) s, \(Int(document.queriesPerSecond)) queries/s\n"
            if let why = learner.stoppedBecause { text += "incomplete: \(why); this is the last hypothesis\n" }
            for n in learner.nondeterminism { text += "nondeterministic: \(n.word.joined(separator: " ")) answered \(n.first) and \(n.second)\n" }
        }
        var disagree = false
        if let diff {
            let reference: MealyMachine
            do {
                reference = try JSONDecoder().decode(Document.self, from: Data(contentsOf: URL(fileURLWithPath: diff))).machine
            } catch {
                throw ValidationError("\(diff): not a learn --format json document (\(error))")
            }
            let words = machine.differences(from: reference)
            disagree = !words.isEmpty
            var lines = words.isEmpty ? ["the same machine as \(diff)"] : ["\(words.count) shortest difference(s) from \(diff):"]
            for word in words {
                let names = word.map { machine.inputs[$0] }.joined(separator: " ")
                lines.append("  \(names): \(reference.run(word).last ?? "") there, \(machine.run(word).last ?? "") here")
            }
            let block = lines.joined(separator: "\n") + "\n"
            if format == .text { text += block } else { FileHandle.standardError.write(Data(block.utf8)) }
        }
        if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        if let svg { try Self.writeSVG(machine.dot(name: name), to: svg) }
        if disagree { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    /// Graphviz's `dot -Tsvg` (Debian's graphviz package).
    static func writeSVG(_ dot: String, to path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["dot", "-Tsvg", "-o", path]
        let input = Pipe()
        process.standardInput = input
        do { try process.run() } catch { throw ValidationError("--svg needs Graphviz's dot (apt-get install graphviz): \(error)") }
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("dot -Tsvg failed (exit \(process.terminationStatus)); is Graphviz installed?") }
    }
}
