import ArgumentParser
import Foundation
import SMTPNet
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

/// `smtpsim proxy`: the simulator's on-path attacker between a real client and a real server.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Sit between a real SMTP client and server as an on-path attacker.",
        discussion: Help.reflow("""
            Attacks are the simulator's: \(Simulate.Attack.allCases.map(\.rawValue).joined(separator: ", ")).
            intercept-tls shows the client a certificate from an untrusted test CA (a client that
            verifies refuses it) and relays the plaintext it reads. With intercept-tls, --fault
            performs TLS session events (docs/catalog.md I) on either of its two sessions, at a
            trigger read off the plaintext: `from: client` acts as the client toward the server,
            `from: server` as the server toward the client, e.g.
            --fault '{tls-close-notify: {from: client, at: mid-body, then-plaintext: "x"}}'.
            Listens on loopback unless told otherwise; prints what each side sent and every attack
            as it happens.
            """)
    )

    @Option(help: "Where to listen, HOST:PORT.") var listen = "127.0.0.1:2526"
    @Option(help: "The real server, HOST:PORT.") var upstream: String
    @Option(help: "Attacker action (repeatable).") var attack: [Simulate.Attack] = []
    @Option(help: ArgumentHelp("A TLS session fault as a scenario file writes it (repeatable; needs --attack intercept-tls).", valueName: "yaml"))
    var fault: [String] = []
    @Option(help: "Exit after this many connections.") var maxConnections: Int?
    @Option(help: "Longest session, seconds.") var sessionTimeout: Double = 300
    @Flag(help: "Print only attacks and connections.") var quiet = false

    func run() async throws {
        var proxy = Proxy(listen: try NetCLI.address(listen), upstream: try NetCLI.address(upstream, defaultPort: 25), attacks: attack.map(\.action))
        proxy.maximumConnections = maxConnections
        proxy.faults = try fault.map { text in
            do throws(ScenarioError) { return try ScenarioLoader.parseFault(text) } catch { throw ValidationError("--fault \(text): \(error.message)") }
        }
        proxy.limits = SessionLimits(sessionSeconds: sessionTimeout)
        if attack.contains(.interceptTLS) {
            let factory = try CertificateFactory(seed: 1, epoch: NetCLI.today())
            proxy.interceptIdentity = try factory.serverIdentity(hostname: proxy.upstream.host, variant: .untrustedCA)
        }
        let quiet = quiet
        let host = proxy.listen.host
        let upstream = proxy.upstream
        let client = Dialogue(ours: .client)
        do {
            try await proxy.run(ready: { port in
                NetCLI.say("smtpsim proxy: listening on \(HostPort(host: host, port: port)), upstream \(upstream)")
            }, log: { id, event in
                switch event {
                case .client(let b, let tls): if !quiet { client.lines(.sent(b, tls: tls)).forEach { NetCLI.say("\(id) \($0)") } }
                case .server(let b, let tls): if !quiet { client.lines(.received(b, tls: tls)).forEach { NetCLI.say("\(id) \($0)") } }
                case .attack(let name, let detail): NetCLI.say("\(id) -- attack \(name): \(detail)")
                case .note(let text): NetCLI.say("\(id) -- \(text)")
                case .finding(let finding):
                    NetCLI.say("\(id) -- FINDING \(finding.summary)")
                    FileHandle.standardError.write(Data("smtpsim proxy: \(id) FINDING \(finding.summary)\n".utf8))
                }
            })
        } catch {
            throw NetCLI.fail(error)
        }
    }
}

extension Simulate.Attack: @unchecked Sendable {}

/// `smtpsim probe`: docs/catalog.md's server-facing checks against a real server.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Check a real SMTP server for STARTTLS injection, smuggling and other docs/catalog.md flaws.",
        discussion: Help.reflow("""
            \(Probe.checkCount) checks, each on a fresh connection after a control handshake (at most
            \(Probe.connectionCount) connections in all, each check within 4 × --timeout): D1/D2 command injection across
            STARTTLS (RSET, NOOP, both pipelined; CVE-2011-0411), B5 STARTTLS with a parameter and
            inside TLS, B6 STARTTLS advertised inside TLS, H6 AUTH before TLS, F6 command
            sequencing, F2 oversized command lines, G2 each SMTP-smuggling end-of-data variant in
            DATA, after bare-LF headers (LF-only mode: a warning) and inside BDAT chunks (sends up
            to two small test messages to --rcpt), I1–I5 the TLS session's end. Exit status: 0 no check failed, 1 some check failed, 3 the server could not
            be reached. A warn is allowed by the RFC but not what docs/catalog.md expects.
            --in-memory runs the same checks against smtpsim's own server in memory (with
            --server-flaw profiles; the factory certificate; no socket and no waiting): the
            verdicts the probe gives over loopback against `serve` with the same flaws.

            --outbound RELAY:PORT probes a relay instead (G3, the outbound half of smuggling):
            smtpsim listens as its next hop on --listen (point the relay's relayhost there; the
            listener offers no CHUNKING, so the relay forwards with DATA) and submits
            \(OutboundProbe.checkCount) messages to --rcpt through it: every end-of-data variant in DATA,
            a bare LF and a bare CR in a line, every variant and the real end of data inside a BDAT
            chunk, and a pipelined envelope. Each is reported as it reached the listener on the
            wire: verbatim, normalised (to what), refused (the reply), split (the relay ended the
            data itself) or lost. Exit status 1 when a smuggling sequence left the relay as it was
            or split the message. `smtpsim matrix` combines the JSON of both kinds of probe.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, junit, html }

    @Argument(help: "The server, HOST:PORT.") var server: String?
    @Option(help: "Probe this relay (HOST:PORT) as an outbound server instead.") var outbound: String?
    @Flag(help: "Probe a mail client instead: the command after -- is run once per check against a listener serving that check's behaviour.") var client = false
    @Option(help: "With --client: what the client was configured to promise, required (TLS with a verified certificate, or no delivery) or opportunistic.")
    var policy: ClientProbe.Policy?
    @Option(help: "With --client: run only these checks (catalogue ids or names, comma-separated; the control always runs).") var only: String?
    @Option(help: "With --outbound: where smtpsim listens as the relay's next hop (default 127.0.0.1:2527); with --client: where each check listens (default 127.0.0.1:0, a fresh port each).")
    var listen: String?
    @Option(help: "With --outbound: seconds a message may take to reach the next hop.") var arrival: Double = 20
    @Option(help: "Seconds per wait (default 5); with --client, seconds the client may run per check (default 30).") var timeout: Double?
    @Argument(parsing: .postTerminator, help: "With --client: the client's command, after --. Placeholders: {host} {port} {ca} {from} {rcpt} {rcpt2} {user} {password} {message}.")
    var command: [String] = []
    @Option(help: "A recipient the server accepts, or the relay forwards (default postmaster@localhost; with --outbound bob@example.net).") var rcpt: String?
    @Option(help: "Envelope sender of the test messages.") var from = "probe@smtpsim.test"
    @Option(help: "Output: text (a verdict table), json, or with --client junit or html (the evidence of each check).") var format: Format = .text
    @Flag(help: "Probe smtpsim's own server in memory instead of a socket (no waiting; with --server-flaw).") var inMemory = false
    @Option(help: "With --in-memory: a server flaw profile (repeatable): \(listed(ServerFlaw.self)).") var serverFlaw: [ServerFlaw] = []
    @Flag(help: "Implicit TLS (RFC 8314 §3, port 465): the server probed speaks TLS from the first octet (the STARTTLS checks D1, D2, B5, H6 are n/a); with --client, each check's listener does, for a client configured so (the checks of the upgrade are left out).")
    var implicitTLS = false

    func validate() throws {
        guard [server != nil, outbound != nil, inMemory, client].filter({ $0 }).count == 1 else {
            throw ValidationError("give a server (HOST:PORT), --outbound RELAY:PORT, --in-memory or --client -- COMMAND, one of them")
        }
        if client {
            guard !command.isEmpty else { throw ValidationError("--client needs the client's command after --") }
            guard policy != nil else { throw ValidationError("--client needs --policy required or --policy opportunistic: what the client was configured to promise") }
        } else {
            if !command.isEmpty { throw ValidationError("a command after -- is for --client") }
            if policy != nil || only != nil { throw ValidationError("--policy and --only are for --client") }
            if format == .junit || format == .html { throw ValidationError("--format \(format.rawValue) is for --client") }
        }
        if !serverFlaw.isEmpty, !inMemory { throw ValidationError("--server-flaw needs --in-memory (a real server has the flaws it has)") }
        if implicitTLS, outbound != nil { throw ValidationError("--implicit-tls is for a server, --in-memory or --client: a relay's outbound side is probed as it sends") }
    }

    func run() async throws {
        if let outbound { return try await runOutbound(outbound) }
        if client { return try await runClient() }
        var probe = Probe(server: inMemory ? HostPort(host: "in-memory", port: implicitTLS ? 465 : 25) : try NetCLI.address(server ?? "", defaultPort: implicitTLS ? 465 : 25))
        if inMemory { probe.inMemory = try Self.inMemoryServer(flaws: Set(serverFlaw), implicitTLS: implicitTLS) }
        probe.implicitTLS = implicitTLS
        let timeout = timeout ?? 5
        probe.timeout = timeout
        probe.quietWindow = min(1, timeout)
        probe.rcptTo = rcpt ?? "postmaster@localhost"
        probe.mailFrom = from
        let format = format
        let results: [Probe.Result]
        do {
            results = try await probe.run { r in
                if format == .text { NetCLI.say(Self.row(r)) }
            }
        } catch {
            throw NetCLI.fail(error)
        }
        if format == .json {
            try Self.printJSON(InboundDocument(server: probe.server.description, results: results))
        } else {
            let counts = Dictionary(grouping: results, by: \.verdict).mapValues(\.count)
            NetCLI.say("\(results.count) checks: \(counts[.pass] ?? 0) pass, \(counts[.fail] ?? 0) fail, \(counts[.warn] ?? 0) warn, \(counts[.notApplicable] ?? 0) n/a, \(counts[.inconclusive] ?? 0) inconclusive")
        }
        if results.contains(where: { $0.verdict == .fail }) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    /// smtpsim's server as `serve` runs it by default (the factory's certificate, AUTH for a
    /// test user), with `flaws`, for `probe --in-memory`.
    static func inMemoryServer(flaws: Set<ServerFlaw>, implicitTLS: Bool = false) throws -> Probe.InMemoryServer {
        var configuration = ServerSpec().configuration
        configuration.hostname = "localhost"
        configuration.flaws = flaws
        configuration.implicitTLS = implicitTLS
        configuration.credentials = ["alice": "secret"]
        let factory = try CertificateFactory(seed: 1, epoch: NetCLI.today())
        let context = try TLSContext(.server(try factory.serverIdentity(hostname: "localhost", variant: .valid)))
        return Probe.InMemoryServer(configuration: configuration, context: context)
    }

    /// `probe --format json`: the server and every check's result.
    struct InboundDocument: Codable {
        var server: String
        var results: [Probe.Result]
    }

    static func printJSON(_ document: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        NetCLI.say(String(decoding: try encoder.encode(document), as: UTF8.self))
    }

    /// `probe --outbound --format json`: the relay, the next hop and every check's result.
    struct OutboundDocument: Codable {
        var relay: String
        var listen: String
        var results: [OutboundProbe.Result]
    }

    private func runOutbound(_ relay: String) async throws {
        var probe = OutboundProbe(relay: try NetCLI.address(relay, defaultPort: 25), listen: try NetCLI.address(listen ?? "127.0.0.1:2527"))
        let timeout = timeout ?? 5
        probe.timeout = timeout
        probe.quietWindow = min(1, timeout)
        probe.arrival = arrival
        probe.rcptTo = rcpt ?? "bob@example.net"
        probe.mailFrom = from
        let format = format, host = probe.listen.host
        let results: [OutboundProbe.Result]
        do {
            results = try await probe.run(ready: { port in
                if format == .text { NetCLI.say("next hop listening on \(host):\(port)") }
            }) { r in
                if format == .text { NetCLI.say(Self.row(r)) }
            }
        } catch {
            throw NetCLI.fail(error)
        }
        if format == .json {
            try Self.printJSON(OutboundDocument(relay: probe.relay.description, listen: probe.listen.description, results: results))
        } else {
            let counts = Dictionary(grouping: results, by: \.arrival).mapValues(\.count)
            let names: [OutboundProbe.Arrival] = [.verbatim, .stuffed, .normalised, .refused, .split, .lost, .notApplicable, .inconclusive]
            NetCLI.say("\(results.count) checks: " + names.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        }
        if results.contains(where: \.passesSmuggling) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    static func row(_ r: OutboundProbe.Result) -> String {
        "\(r.check.padding(toLength: 32, withPad: " ", startingAt: 0)) \(r.arrival.rawValue.uppercased().padding(toLength: 12, withPad: " ", startingAt: 0)) \(r.detail)"
    }

    static func row(_ r: Probe.Result) -> String {
        let verdict = r.verdict.rawValue.uppercased()
        return "\(r.id.padding(toLength: 3, withPad: " ", startingAt: 0)) \(r.check.padding(toLength: 36, withPad: " ", startingAt: 0)) \(verdict.padding(toLength: 13, withPad: " ", startingAt: 0)) \(r.detail)"
    }
}

/// `smtpsim matrix`: outbound and inbound probe results combined into the table of pairs.
struct MatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Combine probe --outbound and probe results into the pairs that deliver a smuggled message, or probe --client results into a client × check matrix.",
        discussion: Help.reflow("""
            Each --outbound is the JSON of `smtpsim probe --outbound RELAY --format json`, each
            --inbound the JSON of `smtpsim probe SERVER --format json`, as FILE or NAME=FILE. A pair
            delivers a smuggled message when a sequence the relay forwarded as it was (or
            normalised to another variant) is one the server ends the data at, or when the relay
            ends the data itself. Exit status 1 when some pair delivers one.

            Each --client is the JSON of `smtpsim probe --client … --format json`, as FILE or
            NAME=FILE (the name defaults to the command's first word): one row per file, one column
            per check. Exit status 1 when some check failed.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @Option(help: "A probe --outbound JSON file (NAME=FILE or FILE; repeatable).") var outbound: [String] = []
    @Option(help: "A probe JSON file (NAME=FILE or FILE; repeatable).") var inbound: [String] = []
    @Option(help: "A probe --client JSON file (NAME=FILE or FILE; repeatable).") var client: [String] = []
    @Option(help: "Output: text, json or html.") var format: Format = .text
    @Option(help: "Write the output here instead of standard output.") var output: String?

    func validate() throws {
        if !client.isEmpty {
            guard outbound.isEmpty, inbound.isEmpty else { throw ValidationError("give --client files, or --outbound and --inbound files, not both") }
            return
        }
        guard !outbound.isEmpty, !inbound.isEmpty else { throw ValidationError("give at least one --outbound and one --inbound (or --client files)") }
    }

    /// `NAME=FILE` or `FILE`, and the document's own name for it.
    static func read<T: Decodable>(_ argument: String, as: T.Type, name: (T) -> String) throws -> (String, T) {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        let path = parts.count == 2 ? parts[1] : argument
        do {
            let document = try JSONDecoder().decode(T.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
            return (parts.count == 2 ? parts[0] : name(document), document)
        } catch {
            throw ValidationError("\(path): not a probe JSON document (\(error))")
        }
    }

    func run() throws {
        if !client.isEmpty { return try runClients() }
        let outs = try outbound.map { a in
            let (name, d) = try Self.read(a, as: ProbeCommand.OutboundDocument.self) { $0.relay }
            return SmugglingMatrix.Outbound(name: name, results: d.results)
        }
        let ins = try inbound.map { a in
            let (name, d) = try Self.read(a, as: ProbeCommand.InboundDocument.self) { $0.server }
            return SmugglingMatrix.Inbound(name: name, results: d.results)
        }
        let matrix = SmugglingMatrix(outbound: outs, inbound: ins)
        let text: String
        switch format {
        case .text: text = matrix.text + "\n"
        case .json: text = String(decoding: matrix.json, as: UTF8.self) + "\n"
        case .html: text = matrix.html
        }
        try write(text)
        if matrix.pairs.contains(where: \.delivers) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    private func runClients() throws {
        let documents = try client.map { a in
            try Self.read(a, as: ProbeCommand.ClientDocument.self) { URL(fileURLWithPath: $0.command.first ?? "client").lastPathComponent }
        }
        let matrix = ClientReport.Matrix(documents)
        switch format {
        case .text: try write(matrix.text + "\n")
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try write(String(decoding: try encoder.encode(matrix), as: UTF8.self) + "\n")
        case .html: try write(matrix.html)
        }
        if matrix.anyFailure { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    private func write(_ text: String) throws {
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
