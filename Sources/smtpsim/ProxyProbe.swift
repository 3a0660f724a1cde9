import ArgumentParser
import Foundation
import SMTPNet
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
            \(Probe.checkCount) checks, each on a fresh connection after a control handshake (\(Probe.connectionCount)
            connections in all, each check within 4 × --timeout): D1/D2 command injection across
            STARTTLS (RSET, NOOP, both pipelined; CVE-2011-0411), B5 STARTTLS with a parameter and
            inside TLS, B6 STARTTLS advertised inside TLS, H6 AUTH before TLS, F6 command
            sequencing, F2 oversized command lines, G2 each SMTP-smuggling end-of-data variant in
            DATA, after bare-LF headers (LF-only mode: a warning) and inside BDAT chunks (sends up
            to two small test messages to --rcpt), I1–I5 the TLS session's end. Exit status: 0 no check failed, 1 some check failed, 3 the server could not
            be reached. A warn is allowed by the RFC but not what docs/catalog.md expects.
            """)
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Argument(help: "The server, HOST:PORT.") var server: String
    @Option(help: "Seconds per wait.") var timeout: Double = 5
    @Option(help: "A recipient the server accepts (smuggling checks).") var rcpt = "postmaster@localhost"
    @Option(help: "Envelope sender of the test messages.") var from = "probe@smtpsim.test"
    @Option(help: "Output: text (a verdict table) or json.") var format: Format = .text

    func run() async throws {
        var probe = Probe(server: try NetCLI.address(server, defaultPort: 25))
        probe.timeout = timeout
        probe.quietWindow = min(1, timeout)
        probe.rcptTo = rcpt
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
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            NetCLI.say(String(decoding: try encoder.encode(["server": probe.server.description]).dropLast(), as: UTF8.self) + ",")
            NetCLI.say("  \"results\" : " + String(decoding: try encoder.encode(results), as: UTF8.self) + "\n}")
        } else {
            let counts = Dictionary(grouping: results, by: \.verdict).mapValues(\.count)
            NetCLI.say("\(results.count) checks: \(counts[.pass] ?? 0) pass, \(counts[.fail] ?? 0) fail, \(counts[.warn] ?? 0) warn, \(counts[.notApplicable] ?? 0) n/a, \(counts[.inconclusive] ?? 0) inconclusive")
        }
        if results.contains(where: { $0.verdict == .fail }) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    static func row(_ r: Probe.Result) -> String {
        let verdict = r.verdict.rawValue.uppercased()
        return "\(r.id.padding(toLength: 3, withPad: " ", startingAt: 0)) \(r.check.padding(toLength: 36, withPad: " ", startingAt: 0)) \(verdict.padding(toLength: 13, withPad: " ", startingAt: 0)) \(r.detail)"
    }
}
