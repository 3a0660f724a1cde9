import EndpointHosting
import ArgumentParser
import Foundation
import SMTPNet
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

/// `smtpsim serve`: smtpsim's server over real TCP with real STARTTLS, flaw profiles and faults.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run smtpsim's SMTP server on a real socket (STARTTLS by OpenSSL) and keep what it accepts.",
        discussion: Help.reflow("""
            Each accepted message is written to --maildir as NAME.eml (the body as received) with
            NAME.json beside it (envelope, TLS, AUTH identity, smuggling findings, and the
            findings against the client on its connection). Every connection is judged by the
            oracles one end can see (credentials or a session carried on in the clear after a
            220 to STARTTLS): each finding is printed on stderr as it happens, and --record DIR
            keeps each connection's events and findings (C1.json), dialogue (C1.log), packets (C1.pcap)
            and TLS secrets (C1.keylog). Without --cert,
            the certificate comes from smtpsim's factory (a test CA: --write-ca saves it for your
            client to trust; its key is derived from a public seed, so trust it in test setups
            only). A --scenario file supplies the server section (configuration, flaw
            profiles, certificate, rules) and the faults a real socket can carry out: a seeded,
            rule-driven fault server for a mail client's CI. --seed fixes the rules'
            probabilities (default: the file's seed); connection n then answers as the
            simulator's connection n does at that seed. Listens on loopback unless told otherwise.
            Idle connections cannot lock clients out: at most --max-per-client from one address
            (loopback addresses exempt unless --limit-loopback, as Postfix exempts $mynetworks),
            --max-concurrent in all; a command line must complete within the idle timeout and
            message data arrive at a minimum rate (a trickle keeps no session alive); under stress
            an idle session is closed after --stress-timeout seconds; and a new connection that
            finds every slot taken takes the slot of the session that has completed no line for
            the longest time (--evict-after seconds at least; it gets 421), so a fresh client is
            served within seconds whatever the flood.
            """)
    )

    @Option(help: "Where to listen, HOST:PORT (port 0 picks one; it is printed).") var listen = "127.0.0.1:2525"
    @Option(help: "Directory for accepted messages (.eml + .json).") var maildir: String
    @Option(help: "Take the server (configuration, flaws, certificate, rules, faults) from a scenario file.") var scenario: String?
    @Option(help: "With --scenario: the seed that fixes its rules' probabilities (default: the file's seed).") var seed: UInt64?
    @Option(help: "Host name in the greeting, EHLO reply and the factory certificate.") var hostname: String?
    @Option(help: "Certificate chain (PEM) to present; with --key.") var cert: String?
    @Option(help: "Private key (PEM) of --cert.") var key: String?
    @Option(help: "Factory certificate variant: \(listed(CertificateFactory.Variant.self)).")
    var certificate: CertificateFactory.Variant?
    @Option(help: "Write the factory's root CA certificate (PEM) here, for clients to trust.") var writeCA: String?
    @Flag(help: "Offer no STARTTLS (454 to STARTTLS).") var noTLS = false
    @Flag(help: "Implicit TLS (RFC 8314 §3, submissions on port 465): the TLS handshake first, then the greeting inside TLS; no STARTTLS.") var implicitTLS = false
    @Flag(help: "Refuse mail before STARTTLS (530 5.7.0).") var requireTLS = false
    @Option(help: "Accept AUTH for user:password (repeatable).") var auth: [String] = []
    @Option(help: "Server flaw profile (repeatable): \(listed(ServerFlaw.self)).")
    var serverFlaw: [ServerFlaw] = []
    @OptionGroup var faultOptions: StreamFaultOptions
    @Option(help: "Exit after serving this many connections.") var maxConnections: Int?
    @Option(help: "Connections served at once; past it a new one waits up to 15 s for a slot, then gets 421.") var maxConcurrent = ConnectionLimits().maximumConcurrent
    @Option(help: "Connections at once from one client address; past it, 421 at once.") var maxPerClient = ConnectionLimits().maximumPerClient
    @Flag(help: "Hold loopback clients to --max-per-client too (by default they are exempt, as Postfix exempts $mynetworks).") var limitLoopback = false
    @Option(help: "A new connection that finds every slot taken evicts the session without a completed line for the longest time, if at least this many seconds.")
    var evictAfter = ConnectionLimits().evictAfterSeconds
    @Option(help: "Under stress (3/4 of --max-concurrent open), close a session idle this many seconds (Postfix: ${stress?10}).")
    var stressTimeout = ConnectionLimits().stressIdleSeconds
    @Option(help: "Longest session, seconds.") var sessionTimeout: Double = 300
    @Flag(help: "Print only connections and accepted messages, not the dialogue.") var quiet = false
    @Option(help: "Write each connection's record here: C1.json (every event, and the findings against the client), C1.log (the dialogue), C1.pcap and, with TLS, C1.keylog (tshark decrypts the pcap with it).")
    var record: String?

    func run() async throws {
        var spec = ServerSpec()
        var rules: [FaultRule] = []
        var configuration = spec.configuration
        if seed != nil, scenario == nil { throw ValidationError("--seed fixes a scenario's rules: give --scenario") }
        if let scenario {
            let loaded: Scenario
            do {
                loaded = try ScenarioLoader.load(path: scenario)
            } catch {
                throw ValidationError(error.description)
            }
            var simulated = loaded.configuration
            simulated.seed = seed ?? loaded.seed
            spec = simulated.server
            rules = simulated.faults
            configuration = simulated.seededServerConfiguration
            let ruleCount = configuration.rules.count
            NetCLI.say("smtpsim serve: the server of \(loaded.name.isEmpty ? scenario : loaded.name)\(ruleCount > 0 ? ", \(ruleCount) rule(s) at seed \(simulated.seed)" : "") (its client, attacker and expectations do not apply to a real socket)")
        }
        if let hostname { configuration.hostname = hostname }
        if requireTLS { configuration.requireTLS = true }
        if implicitTLS { configuration.implicitTLS = true }
        if configuration.implicitTLS, noTLS || requireTLS {
            throw ValidationError("implicit TLS (\(implicitTLS ? "--implicit-tls" : "the scenario's security: implicit-tls")) is always TLS: --no-tls and --require-tls contradict it")
        }
        for entry in auth {
            let (user, password) = try NetCLI.credentials(entry)
            configuration.credentials[user] = password
        }
        configuration.flaws.formUnion(serverFlaw)
        if let certificate { spec.certificate = certificate }
        let address = try NetCLI.address(listen)
        let identity = noTLS ? nil : try makeIdentity(spec, hostname: configuration.hostname, listen: address)
        var server = NetServer(listen: address, configuration: configuration, identity: identity)
        server.faultRules = try faultOptions.rules(adding: rules, side: .server)
        server.limits = SessionLimits(sessionSeconds: sessionTimeout)
        server.maximumConnections = maxConnections
        guard maxConcurrent >= 1, maxPerClient >= 1, stressTimeout > 0 else { throw ValidationError("--max-concurrent and --max-per-client take 1 or more, --stress-timeout a positive number of seconds") }
        server.connectionLimits.maximumConcurrent = maxConcurrent
        server.connectionLimits.maximumPerClient = maxPerClient
        server.connectionLimits.stressIdleSeconds = stressTimeout
        server.connectionLimits.exemptLoopback = !limitLoopback
        guard evictAfter >= 0 else { throw ValidationError("--evict-after takes 0 or more seconds") }
        server.connectionLimits.evictAfterSeconds = evictAfter
        do {
            server.maildir = try MaildirWriter(directory: maildir)
        } catch {
            throw ValidationError(error.description)
        }
        server.recordDirectory = try NetCLI.recordDirectory(record)
        let quiet = quiet
        let implicit = configuration.implicitTLS
        let host = server.listen.host
        do {
            try await server.run(ready: { port in
                NetCLI.say("smtpsim serve: listening on \(HostPort(host: host, port: port))\(identity == nil ? " (no TLS)" : implicit ? " (implicit TLS)" : "")")
            }, log: { id, event in
                // A finding goes to stderr as well, quiet or not: the summary a CI log greps.
                if case .finding(let finding) = event { FileHandle.standardError.write(Data("smtpsim serve: \(id) FINDING \(finding.summary)\n".utf8)) }
                if quiet, case .sent = event { return }
                if quiet, case .received = event { return }
                for line in Dialogue(ours: .server).lines(event) { NetCLI.say("\(id) \(line)") }
            })
        } catch {
            throw NetCLI.fail(error)
        }
    }

    private func makeIdentity(_ spec: ServerSpec, hostname: String, listen: HostPort) throws -> TLSIdentity {
        if let cert {
            guard let key else { throw ValidationError("--cert needs --key") }
            do {
                return try TLSIdentity(certificatePEM: try NetCLI.read(cert), keyPEM: try NetCLI.read(key))
            } catch let e as TLSSetupError {
                throw ValidationError("cannot load \(cert) / \(key): \(e)")
            }
        }
        if let identity = spec.identity { return identity }
        let factory = try CertificateFactory(seed: 1, epoch: NetCLI.today(), keyType: spec.keyType)
        if let writeCA {
            try factory.root.pem.write(toFile: writeCA, atomically: true, encoding: .utf8)
            NetCLI.say("smtpsim serve: wrote the test CA to \(writeCA)")
        }
        return try Self.factoryIdentity(factory, spec, hostname: hostname, listen: listen)
    }

    /// The factory certificate of `spec`'s variant for `hostname`, also covering localhost and
    /// the address it listens on (loopback for a wildcard), so that `curl --ssl-reqd
    /// smtp://127.0.0.1:PORT --cacert ca.pem` verifies; a wrong-host certificate names none of them.
    static func factoryIdentity(_ factory: CertificateFactory, _ spec: ServerSpec, hostname: String, listen: HostPort) throws -> TLSIdentity {
        let wildcard = ["0.0.0.0", "::", ""].contains(listen.host)
        let also = ["localhost"] + (wildcard ? ["127.0.0.1", "::1"] : [listen.host])
        var names: [String] = []
        for name in also where name != hostname && !names.contains(name) { names.append(name) }
        return try factory.serverIdentity(hostname: hostname, variant: spec.certificate, alsoNames: spec.certificate == .wrongHost ? [] : names)
    }
}
