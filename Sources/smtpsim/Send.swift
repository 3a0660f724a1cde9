import ArgumentParser
import Foundation
import SMTPClient
import SMTPCore
import SMTPNet
import SMTPTLS
import Simulation

/// `smtpsim send`: smtpsim's client against a real SMTP server.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deliver messages to a real SMTP server with smtpsim's client (STARTTLS by OpenSSL).",
        discussion: Help.reflow("""
            Prints the dialogue, the capabilities before and after TLS, the TLS details, each
            message's outcome and the findings against the server (the oracles one end of a
            connection can judge: a plaintext password mechanism offered before TLS). Exit status
            as for `run`: 0 delivered, 1 findings, 3 deferred (or the server could not be
            reached), 4 refused, 2 bad arguments. MESSAGE files are sent as they are
            (line endings normalised to CRLF, dot-stuffed); with none, a short test message.
            --format json prints one document instead: the dialogue (every octet sent and
            received, by layer, with its time), the capabilities before and after TLS, the TLS
            details, each message's outcome and the findings.
            """)
    )

    enum StartTLS: String, ExpressibleByArgument, CaseIterable {
        case required, opportunistic, none
    }

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(help: "The server, HOST:PORT.") var server: String
    @Option(help: "STARTTLS policy: required (verified certificate or defer), opportunistic, none. With --implicit-tls: what an unverified certificate means (required defers, opportunistic goes on without credentials).") var starttls: StartTLS = .opportunistic
    @Flag(help: "Implicit TLS (RFC 8314 §3, submissions): the TLS handshake as the connection opens, the greeting inside TLS; nothing is ever sent in the clear. The default port becomes 465.") var implicitTLS = false
    @Option(help: "Trust these CA certificates (PEM).") var ca: String?
    @Option(help: "Trust exactly this server certificate (PEM), whatever its name and chain.") var pin: String?
    @Option(help: "Name to expect in the certificate and send as SNI (default: the --server host).") var serverName: String?
    @Option(help: "Authenticate as user:password (inside TLS only, unless a flaw says otherwise).") var auth: String?
    @Option(help: "Envelope sender.") var from = "smtpsim@client.example.test"
    @Option(help: "Envelope recipient (repeatable).") var to: [String] = []
    @Option(help: "Name sent in EHLO.") var helo = "client.example.test"
    @Flag(help: "Use BDAT when the server offers CHUNKING.") var chunking = false
    @Flag(help: "With --starttls opportunistic: after a failed TLS handshake, retry at once in plaintext on a new connection (Postfix at `may`).")
    var plaintextRetryAfterTLSFailure = false
    @Option(help: "Client flaw profile (repeatable): \(listed(ClientFlaw.self)).")
    var clientFlaw: [ClientFlaw] = []
    @OptionGroup var faultOptions: StreamFaultOptions
    @Option(help: "Seconds to wait for the connection and for each reply.") var timeout: Double = 30
    @Flag(help: "Print only the summary.") var quiet = false
    @Option(help: "Write each connection's record here: A1.json (every event, and the findings against the server), A1.log, A1.pcap and, with TLS, A1.keylog.")
    var record: String?
    @Option(help: "Output: text (dialogue and summary) or json (one document).") var format: Format = .text
    @Argument(help: "Message files (RFC 5322).") var messages: [String] = []

    func run() async throws {
        let address = try NetCLI.address(server, defaultPort: implicitTLS ? 465 : 25)
        var configuration = ClientConfiguration()
        if implicitTLS {
            guard starttls != .none, !plaintextRetryAfterTLSFailure else {
                throw ValidationError("--implicit-tls never speaks in the clear: --starttls none and --plaintext-retry-after-tls-failure contradict it")
            }
            configuration.implicitTLS = true
        }
        configuration.heloName = helo
        configuration.serverName = serverName ?? address.host
        configuration.useChunking = chunking
        switch starttls {
        case .required: configuration.policy = pin != nil ? .pinned : .required
        case .opportunistic: configuration.policy = .opportunistic
        case .none: configuration.policy = .plaintext
        }
        if plaintextRetryAfterTLSFailure {
            guard starttls == .opportunistic else { throw ValidationError("--plaintext-retry-after-tls-failure needs --starttls opportunistic") }
            configuration.plaintextRetryAfterTLSFailure = true
        }
        if let auth {
            let (user, password) = try NetCLI.credentials(auth)
            configuration.credentials = Credentials(username: user, password: password)
        }
        configuration.flaws.formUnion(clientFlaw)
        configuration.timeouts = ClientTimeouts(uniform: Int64(timeout * 1e9))
        var client = NetClient(server: address, configuration: configuration)
        client.connectTimeout = timeout
        client.limits = SessionLimits(sessionSeconds: max(60, timeout * 10))
        client.faults = try faultOptions.faults(side: .client)
        if let ca { client.trust = .anchors(try certificates(ca)) }
        if let pin {
            guard let leaf = try certificates(pin).first else { throw ValidationError("\(pin) holds no certificate") }
            client.trust = .pinned(leaf)
        }
        client.recordDirectory = try NetCLI.recordDirectory(record)
        let outgoing = try makeMessages()
        let dialogue = Dialogue(ours: .client)
        let quiet = quiet || format == .json
        let recorder = SessionRecord()
        let report: NetClient.Report
        do {
            report = try await client.deliver(outgoing) { event in
                recorder.record(event)
                if quiet { return }
                if case .note(let text) = event, text.hasPrefix("reply ") { return }  // the S: lines show it
                for line in dialogue.lines(event) { NetCLI.say(line) }
            }
        } catch {
            throw NetCLI.fail(error)
        }
        if format == .json {
            NetCLI.say(try SendJSON(server: address.description, report: report, dialogue: recorder.entries).text)
            try ExitStatus(findings: !report.findings.isEmpty, outcomes: report.outcomes).exitIfFailed()
            return
        }
        NetCLI.say("== summary")
        if let before = report.capabilitiesBeforeTLS {
            NetCLI.say("capabilities before TLS: \(Self.list(before))")
            NetCLI.say("capabilities after TLS:  \(Self.list(report.capabilities))")
        } else {
            NetCLI.say("capabilities: \(Self.list(report.capabilities))")
        }
        if let tls = report.tls {
            let leaf = tls.peerCertificates.first.map { "\($0.subject), issuer \($0.issuer), sha256 \($0.sha256Fingerprint.prefix(23))…" } ?? "none"
            NetCLI.say("TLS: \(tls.version) \(tls.cipherSuite)\(tls.group.map { " (\($0))" } ?? ""); certificate \(leaf); \(tls.peerVerified ? "verified" : "not verified: \(tls.verifyResultText)")")
        } else {
            NetCLI.say("TLS: not used")
        }
        for o in report.outcomes {
            NetCLI.say("\(o.messageID): \(o.status.rawValue)\(o.overTLS ? " over TLS" : "") — \(o.reason)\(o.tlsResultType.map { " [RFC 8460: \($0.rawValue)]" } ?? "")")
            for line in o.recipientLines { NetCLI.say("  \(line)") }
        }
        NetCLI.say(report.findings.isEmpty ? "findings: none" : "findings:")
        for f in report.findings { NetCLI.say("  \(f.summary)") }
        try ExitStatus(findings: !report.findings.isEmpty, outcomes: report.outcomes).exitIfFailed()
    }

    static func list(_ c: EHLOCapabilities) -> String {
        c.extensions.isEmpty ? "(none)" : c.extensions.map(\.description).joined(separator: ", ")
    }

    private func certificates(_ path: String) throws -> [Certificate] {
        do {
            return try Certificate.chain(pem: try NetCLI.read(path))
        } catch let e as TLSSetupError {
            throw ValidationError("cannot load \(path): \(e)")
        }
    }

    private func makeMessages() throws -> [OutgoingMessage] {
        let sender: ReversePath
        var recipients: [ForwardPath] = []
        do {
            sender = .mailbox(try Mailbox(from))
            for r in (to.isEmpty ? ["postmaster@\(serverName ?? "localhost")"] : to) { recipients.append(.mailbox(try Mailbox(r))) }
        } catch {
            throw ValidationError("bad address: \(error)")
        }
        if messages.isEmpty {
            let body = "From: <\(from)>\r\nSubject: smtpsim test message\r\n\r\nSent by smtpsim send.\r\n"
            return [OutgoingMessage(id: "m1", from: sender, to: recipients, body: Array(body.utf8))]
        }
        return try messages.enumerated().map { i, path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return OutgoingMessage(id: "m\(i + 1)", from: sender, to: recipients, body: Array(data))
        }
    }
}
