import EndpointHosting
import ArgumentParser
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

/// `smtpsim simulate`: one deterministic in-memory SMTP/STARTTLS session between smtpsim's client
/// and server, over faulty links and through an optional on-path attacker, with every oracle.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate an SMTP/STARTTLS delivery with faults, attacks and flaw profiles; check every oracle.",
        discussion: Help.reflow("""
            Same seed, same run: the trace digest printed at the end is identical on every machine
            and in every process, TLS bytes included. The replay line reruns exactly this run.
            Exit status: 0 delivered with no finding, 1 an oracle found something, 3 deferred,
            4 refused, 2 bad arguments.
            """)
    )

    /// An attacker preset: the scenario file's action of the same name (`AttackKind`) with its
    /// parameters chosen, or a named variant of one (`-delete`, `-late`, `refuse-starttls` and
    /// `bogus-220` are `replace-starttls-reply` with a fixed reply).
    enum Attack: String, ExpressibleByArgument, CaseIterable {
        case stripStartTLS = "strip-starttls", stripStartTLSDelete = "strip-starttls-delete", refuseStartTLS = "refuse-starttls"
        case bogus220 = "bogus-220", injectCommand = "inject-to-server", injectCommandLate = "inject-to-server-late"
        case injectResponse = "inject-to-client", tamperCapabilities = "tamper-capabilities", injectAuth = "inject-auth"
        case interceptTLS = "intercept-tls"

        /// Names of earlier releases, still read (`inject-command` was the file's `inject-to-server`).
        static let formerNames: [String: Attack] = ["inject-command": .injectCommand, "inject-command-late": .injectCommandLate, "inject-response": .injectResponse]

        init?(argument: String) {
            guard let attack = Attack(rawValue: argument) ?? Self.formerNames[argument] else { return nil }
            if Self.formerNames[argument] != nil {
                FileHandle.standardError.write(Data("smtpsim: --attack \(argument) is now --attack \(attack.rawValue) (the scenario file's name)\n".utf8))
            }
            self = attack
        }

        var action: AttackAction {
            switch self {
            case .stripStartTLS: .stripStartTLS(.overwrite)
            case .stripStartTLSDelete: .stripStartTLS(.delete)
            case .refuseStartTLS: .replaceStartTLSReply("454 4.7.0 TLS not available due to temporary reason\r\n")
            case .bogus220: .replaceStartTLSReply("220 EHLO client!\r\n")
            case .injectCommand: .injectToServer(bytes: "RSET\r\nMAIL FROM:<attacker@evil.example>\r\n", sameSegment: true)
            case .injectCommandLate: .injectToServer(bytes: "RSET\r\n", sameSegment: false)
            case .injectResponse: .injectToClient(bytes: "250-evil.example\r\n250 AUTH PLAIN LOGIN\r\n")
            case .tamperCapabilities: .tamperCapabilities(add: ["AUTH PLAIN LOGIN"], remove: ["PIPELINING"])
            case .injectAuth: .injectAuth(username: "mallory", password: "mallory")
            case .interceptTLS: .interceptTLS
            }
        }
    }

    enum Policy: String, ExpressibleByArgument, CaseIterable {
        case plaintext, opportunistic, required, pinned
        var value: TLSPolicy {
            switch self {
            case .plaintext: .plaintext
            case .opportunistic: .opportunistic
            case .required: .required
            case .pinned: .pinned
            }
        }
    }

    @Option(help: "The run's seed.") var seed: UInt64 = 1
    @Option(help: "Client TLS policy: plaintext, opportunistic, required, pinned.") var policy: Policy = .required
    @Option(help: "Server certificate: \(listed(CertificateFactory.Variant.self)).")
    var certificate: CertificateFactory.Variant = .valid
    @Option(help: "Attacker action (repeatable): \(Attack.allCases.map(\.rawValue).joined(separator: ", ")).")
    var attack: [Attack] = []
    @Option(help: "Reset the first connection at a phase (repeatable): \(listed(ProtocolPhase.self)).")
    var resetAt: [ProtocolPhase] = []
    @Option(help: "Latency per segment, milliseconds, e.g. 1-40.") var latencyMs: String?
    @Option(help: "Split segments to at most this many octets (1: one byte each).") var split: Int?
    @Option(help: ArgumentHelp("Any fault as a scenario file writes it (repeatable; `smtpsim faults` lists them), e.g. '{tls-close-notify: {from: client, at: mid-body, then-plaintext: \"x\"}}'.", valueName: "yaml"))
    var fault: [String] = []
    @Option(help: "Server flaw profile (repeatable): \(listed(ServerFlaw.self)).")
    var serverFlaw: [ServerFlaw] = []
    @Option(help: "Client flaw profile (repeatable): \(listed(ClientFlaw.self)).")
    var clientFlaw: [ClientFlaw] = []
    @Option(help: "Authenticate as user:password (the server gets the same credential).") var auth: String?
    @Option(help: "Messages to send.") var messages: Int = 1
    @Flag(help: "Send with BDAT where CHUNKING is offered (RFC 3030).") var chunking = false
    @Flag(help: "Use the cheap TLS profile (TLS 1.3 external PSK) instead of certificates.") var cheap = false
    @Flag(help: "Print the whole trace.") var trace = false
    @Option(help: "Write the run as a pcap file (synthetic TCP/IPv4, port 25).") var pcap: String?
    @Option(help: "Write the NSS key log for the pcap's TLS (SSLKEYLOGFILE format).") var keylog: String?

    func run() throws {
        var config = SimulationConfiguration(seed: seed)
        config.server.certificate = certificate
        config.server.configuration.flaws = Set(serverFlaw)
        var client = ClientConfiguration()
        client.policy = policy.value
        client.flaws = Set(clientFlaw)
        client.useChunking = chunking
        if let auth {
            let parts = auth.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--auth takes user:password") }
            client.credentials = Credentials(username: parts[0], password: parts[1])
            config.server.configuration.credentials = [parts[0]: parts[1]]
        }
        let outgoing = try (1...max(1, messages)).map { i in
            OutgoingMessage(id: "m\(i)", from: .mailbox(try Mailbox("alice@example.test")), to: [.mailbox(try Mailbox("bob@example.net"))],
                            body: Array("Subject: message \(i)\r\n\r\nHello over simulated SMTP.\r\n.A line starting with a dot.\r\n".utf8))
        }
        var spec = ClientSpec(configuration: client, messages: outgoing, trust: policy == .pinned ? .pinnedServerCertificate : .factoryCA)
        spec.configuration.serverName = config.server.configuration.hostname
        config.clients = [spec]
        config.attacker = attack.map(\.action)
        for phase in resetAt {
            config.faults.append(FaultRule(.reset, at: .phase(phase), connections: [1]))
        }
        if let latencyMs {
            let parts = latencyMs.split(separator: "-").compactMap { Int64($0) }
            guard let lo = parts.first else { throw ValidationError("--latency-ms takes A or A-B") }
            config.faults.append(FaultRule(.latency(min: lo * 1_000_000, max: (parts.last ?? lo) * 1_000_000)))
        }
        if let split { config.faults.append(FaultRule(.split(maxSegment: split))) }
        for text in fault {
            do throws(ScenarioError) {
                config.faults.append(try ScenarioLoader.parseFault(text))
            } catch {
                throw ValidationError("--fault \(text): \(error.message)")
            }
        }
        if cheap { config.tls = .cheap(.tls13) }
        config.keyLog = keylog != nil

        let result = try World(configuration: config, trace: trace || pcap != nil ? .events : .digest).run()
        if trace { print(result.trace.text) }
        print("seed \(seed): \(result.connections) connection(s), \(result.events) events, \(TraceEvent.formatTime(result.duration)) simulated")
        for o in result.outcomes {
            print("  \(o.messageID): \(o.status.rawValue) on attempt \(o.attempt)\(o.overTLS ? " over TLS" : "") — \(o.reason)\(o.tlsResultType.map { " [RFC 8460: \($0.rawValue)]" } ?? "")")
            for line in o.recipientLines { print("    \(line)") }
        }
        print("  server accepted \(result.accepted.count) message(s)")
        if result.findings.isEmpty {
            print("findings: none")
        } else {
            print("findings:")
            for f in result.findings { print("  \(f.label): \(f.explanation) [\(f.reference)]") }
        }
        print("trace sha256: \(result.digest ?? "")")
        print("replay: \(Self.replayLine())")
        for path in try RunFiles(pcap: pcap, keylog: keylog).write(result, epoch: config.epoch) { print("wrote \(path)") }
        try ExitStatus(result).exitIfFailed()
    }

    static func replayLine() -> String {
        // An attack's former name is replayed under its name now.
        let args = CommandLine.arguments.dropFirst().filter { !$0.isEmpty }.map { Attack.formerNames[$0]?.rawValue ?? $0 }
        // Single quotes for a shell, with any quote inside closed, escaped and reopened.
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@")
        return (["smtpsim"] + args).map { $0.allSatisfy(plain.contains) ? $0 : "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            .joined(separator: " ")
    }
}
