import ArgumentParser
import EndpointHosting
import Foundation
import Scenario
import SMTPLearning
import SMTPNet
import SMTPServer
import Simulation

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
            learned before (`--format json`) disagree; --diff compliant (the default of --export)
            compares with smtpsim's compliant server learned in memory on the same inputs.
            --export DIR writes each of those words as a scenario file whose scripted client asks
            it and expects this machine's answers (`smtpsim run FILE` in the simulator, `smtpsim
            run FILE --against HOST:PORT` on the server). --html writes the machine as a page
            (Graphviz's drawing, the transitions, the differences and each exported scenario's
            run). --max-differences N lists and exports the N shortest (default 10; 0: all of them),
            and says how many there are in all. A time or query budget that runs out before a first
            hypothesis reports the queries and the states the table holds so far (exit 3); after
            one, the last hypothesis, marked incomplete. A server that answers one word two ways
            is reported with the word and both answers, and learning goes on from the later
            answers (or stops with what it has). Exit status 1 when the machines disagree.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, dot, json }

    @Argument(help: "The server, HOST:PORT.") var server: String?
    @Flag(help: "Learn smtpsim's own server, in memory.") var inMemory = false
    @Option(help: "With HOST:PORT: seconds an input may go unanswered before its output is timeout (a server that delays its replies needs more).") var quiet = 0.1
    @Option(help: "With HOST:PORT: seconds to connect, for the greeting and the handshake.") var timeout = 5.0
    @Option(help: "With HOST:PORT: queries asked at once, each on its own connection.") var parallel = 8
    @Option(help: "Server flaw profile (repeatable): \(listed(ServerFlaw.self)).") var serverFlaw: [ServerFlaw] = []
    @Flag(help: "The server speaks implicit TLS (RFC 8314 §3, port 465): every query starts with the handshake, the greeting inside it; with --in-memory, smtpsim's server does.") var implicitTLS = false
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
    @Option(help: "A machine learned before (--format json) to compare with, or `compliant` (smtpsim's compliant server, learned in memory on the same inputs).") var diff: String?
    @Option(help: "Write each shortest difference as a scenario file (a scripted client) in this folder; compares with the compliant server unless --diff names a machine.") var export: String?
    @Option(help: "Write the machine, its differences and their scenarios' runs as an HTML page.") var html: String?
    @Option(help: "How many of the shortest differences to list and export (0: all of them).") var maxDifferences = 10

    func validate() throws {
        guard inMemory != (server != nil) else { throw ValidationError("give a server (HOST:PORT) or --in-memory, not both") }
        if server != nil, !serverFlaw.isEmpty { throw ValidationError("--server-flaw applies to --in-memory (smtpsim's own server)") }
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel takes 1 to 64 connections") }
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
            system = SocketServer(server: try NetCLI.address(server, defaultPort: implicitTLS ? 465 : 25), inputs: alphabet, timeout: timeout, quiet: max(0.01, quiet),
                                  parallel: max(1, parallel), implicitTLS: implicitTLS)
        } else {
            var configuration = InMemoryServer.reference
            configuration.flaws = Set(serverFlaw)
            configuration.implicitTLS = implicitTLS
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
        let comparing = diff != nil || export != nil
        var machine: MealyMachine
        var compared: (reference: MealyMachine, name: String, differences: [LearnedDifference])?
        if comparing {
            let reference: Comparison.Reference, referenceName: String
            if (diff ?? "compliant") == "compliant" {
                var compliant = InMemoryServer.reference
                compliant.implicitTLS = implicitTLS
                reference = .learner(Learner(system: try InMemoryServer(configuration: compliant, inputs: alphabet), budget: budget, seed: seed))
                referenceName = "the compliant in-memory server\(implicitTLS ? " (implicit TLS)" : "")"
            } else {
                reference = .machine(try self.reference(alphabet: alphabet.map(\.rawValue)))
                referenceName = diff!
            }
            do {
                let result = try Comparison.learn(learner, against: reference)
                machine = result.machine
                compared = (result.reference, referenceName, LearnedDifference.all(result.machine, from: result.reference, limit: Int.max))
            } catch let stopped as Learner.Stopped where stopped.reason != .unusableAnswers {
                try stoppedEarly(stopped, learner: learner, seconds: (clock.now - start) / .seconds(1))
            }
        } else {
            do {
                machine = try learner.learn()
            } catch let stopped as Learner.Stopped where stopped.reason != .unusableAnswers {
                try stoppedEarly(stopped, learner: learner, seconds: (clock.now - start) / .seconds(1))
            }
        }
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
        let allDifferences = compared?.differences ?? []
        // Never dropped silently: how many there are, the N shortest listed and exported.
        let differences = maxDifferences > 0 ? Array(allDifferences.prefix(maxDifferences)) : allDifferences
        let referenceName = compared?.name ?? ""
        var exported: [(LearnedDifference, String, ScenarioReport)] = []
        if let compared {
            var lines = differences.isEmpty ? ["the same machine as \(compared.name)"]
                : ["\(allDifferences.count) difference(s) from \(compared.name)" + (differences.count < allDifferences.count ? "; the \(differences.count) shortest:" : ":")]
            for d in differences { lines.append("  \(d.summary)") }
            if differences.count < allDifferences.count {
                lines.append("  … \(allDifferences.count - differences.count) more, not listed\(export != nil ? " or exported" : ""): --max-differences 0 lists them all")
            }
            if let export {
                exported = try write(differences, to: export, system: name, reference: compared.name)
                for (_, path, report) in exported {
                    let how = report.passed ? "answers as learned in the simulator" : "in the simulator: \(report.failures.first ?? "")"
                    lines.append("  wrote \(path): \(how)")
                }
            }
            let block = lines.joined(separator: "\n") + "\n"
            if format == .text { text += block } else { FileHandle.standardError.write(Data(block.utf8)) }
        }
        if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        if let svg { try Self.writeSVG(machine.dot(name: name), to: svg) }
        if let html {
            let page = LearnedPage(system: name, document: document, reference: referenceName, differences: differences, exported: exported,
                                   svg: try? Self.svg(machine.dot(name: name)))
            try RunFiles.write(page.html, to: html)
        }
        if !differences.isEmpty { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    /// Learning stopped before a first hypothesis (a budget, or answers that kept changing): what
    /// it learned so far, in the output format asked for, then exit 3 (not 1: nothing was found
    /// to differ; not a crash: a busy server is no error of smtpsim's).
    func stoppedEarly(_ stopped: Learner.Stopped, learner: Learner, seconds: Double) throws -> Never {
        let name = server ?? "smtpsim server"
        let partial = Partial(system: name, incomplete: stopped.description, queries: learner.queries, cacheHits: learner.cacheHits,
                              statesSoFar: learner.statesSoFar, rounds: learner.rounds, seconds: (seconds * 1000).rounded() / 1000,
                              nondeterminism: learner.nondeterminism)
        var text: String
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            text = String(decoding: try encoder.encode(partial), as: UTF8.self) + "\n"
        case .text, .dot:
            text = "\(name): incomplete: \(stopped.description), before a first hypothesis; \(learner.queries) queries (\(learner.cacheHits) from the cache), "
                + "\(learner.statesSoFar) state(s) in the observation table so far, \(String(format: "%.2f", seconds)) s\n"
            for n in learner.nondeterminism { text += "nondeterministic: \(n.word.joined(separator: " ")) answered \(n.first) and \(n.second)\n" }
            if format == .dot { text = "// " + text.replacingOccurrences(of: "\n", with: "\n// ").dropLast(3) + "\n" }
        }
        if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        if output != nil { FileHandle.standardError.write(Data("smtpsim learn: wrote \(output!)\n".utf8)) }
        throw ExitCode(ExitStatus.deferred.rawValue)
    }

    /// What `--format json` holds when learning stopped before a first hypothesis.
    struct Partial: Encodable {
        var system: String
        var incomplete: String
        var queries: Int
        var cacheHits: Int
        var statesSoFar: Int
        var rounds: Int
        var seconds: Double
        var nondeterminism: [Learner.Nondeterminism]
    }

    /// The machine `--diff REF.json` names.
    func reference(alphabet: [String]) throws -> MealyMachine {
        let diff = diff ?? ""
        let machine: MealyMachine
        do {
            machine = try JSONDecoder().decode(Document.self, from: Data(contentsOf: URL(fileURLWithPath: diff))).machine
        } catch {
            throw ValidationError("\(diff): not a learn --format json document (\(error))")
        }
        guard machine.inputs == alphabet else {
            throw ValidationError("\(diff) was learned over other inputs (\(machine.inputs.joined(separator: " "))): learn with --inputs \(machine.inputs.joined(separator: " "))")
        }
        return machine
    }

    /// `--export`: each difference as `difference-N.yaml`, run once in the simulator to pin the
    /// findings it makes; with --in-memory the scenario's server is the learned one (its flaws),
    /// otherwise smtpsim's compliant server (the file is for `run --against`).
    func write(_ differences: [LearnedDifference], to folder: String, system: String, reference: String) throws -> [(LearnedDifference, String, ScenarioReport)] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var out: [(LearnedDifference, String, ScenarioReport)] = []
        for (i, d) in differences.enumerated() {
            let path = (folder as NSString).appendingPathComponent("difference-\(i + 1).yaml")
            let (text, report) = try LearnedScenario.make(d, file: path, system: system, reference: reference, serverFlaws: serverFlaw, against: server)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            out.append((d, path, report))
        }
        return out
    }

    static func writeSVG(_ dot: String, to path: String) throws {
        try svg(dot).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Graphviz's `dot -Tsvg` (Debian's graphviz package).
    static func svg(_ dot: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["dot", "-Tsvg"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw ValidationError("--svg needs Graphviz's dot (apt-get install graphviz): \(error)") }
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("dot -Tsvg failed (exit \(process.terminationStatus)); is Graphviz installed?") }
        return String(decoding: data, as: UTF8.self)
    }
}
