import Foundation
import SMTPClient
import SMTPCore
import SMTPTLS
import EndpointHosting

/// `smtpsim send`: smtpsim's client state machine against a real server over TCP, with real
/// STARTTLS, the chosen TLS policy and trust, and stream faults.
public struct NetClient: Sendable {
    public var server: HostPort
    public var configuration: ClientConfiguration
    /// Whom the client's TLS trusts (`--ca`, `--pin`, or nothing).
    public var trust: TrustPolicy = .none
    public var clientIdentity: TLSIdentity?
    public var faults = StreamFaults()
    public var limits = SessionLimits(sessionSeconds: 120)
    public var connectTimeout: Double = 10
    /// Where each connection's record goes (`send --record DIR`): `A1.json`, `A1.log`,
    /// `A1.pcap`, `A1.keylog` for the first attempt (`SessionRecord`).
    public var recordDirectory: URL?

    public init(server: HostPort, configuration: ClientConfiguration) {
        self.server = server
        self.configuration = configuration
    }

    /// What one delivery attempt came to.
    public struct Report: Sendable {
        public var outcomes: [MessageOutcome]
        public var capabilitiesBeforeTLS: EHLOCapabilities?
        /// The capabilities in force at the end (inside TLS when it was established).
        public var capabilities: EHLOCapabilities
        public var tls: TLSSessionDetails?
        public var end: SessionEnd
        /// Connections made: 2 when a TLS failure was followed by the plaintext retry.
        public var attempts = 1
        /// What the server did that the oracles judge wrong, over every connection (`SessionJudge`).
        public var findings: [Finding] = []
    }

    /// One connection: greet, EHLO, STARTTLS per policy, AUTH, every message, QUIT; and, when the
    /// configuration asks for it (`plaintextRetryAfterTLSFailure`, opportunistic only), a second
    /// one without STARTTLS after a failed handshake.
    public func deliver(_ messages: [OutgoingMessage], log: @escaping (WireEvent) -> Void) async throws(NetError) -> Report {
        var tlsConfiguration = TLSConfiguration(role: .client)
        tlsConfiguration.trust = trust
        // The state machine decides what an unverified certificate means (RFC 7435 vs required);
        // OpenSSL only records the verification result.
        tlsConfiguration.enforceVerification = false
        tlsConfiguration.identity = clientIdentity
        tlsConfiguration.keyLog = recordDirectory != nil  // the record's key log decrypts its pcap
        let context: TLSContext
        do {
            context = try TLSContext(tlsConfiguration)
        } catch {
            throw .setup("TLS setup failed: \(error)")
        }
        var configuration = configuration
        configuration.retry = RetryPolicy(delay: 0, maximumAttempts: 2)
        // The retry queue decides whether a second, plaintext attempt follows (and nothing else
        // does: `send` is one attempt otherwise).
        var queue = SMTPClient(configuration: configuration, messages: messages)
        var report: Report?
        var latest: [String: MessageOutcome] = [:]  // by message id; read in message order
        var findings: [Finding] = []
        while let machine = queue.nextAttempt() {
            if report != nil { log(.note("retrying in plaintext after the TLS failure (plaintext-retry-after-tls-failure)")) }
            let endpoint = BuiltInClientEndpoint(machine: machine)
            let channel = try await Sockets.connect(server, timeout: connectTimeout)
            log(.note("connected to \(server)"))
            let record = recordDirectory.map { _ in SessionRecord() }
            let session = SocketSession(endpoint: endpoint, tlsContext: context, serverName: configuration.serverName, faults: faults, limits: limits) { event in
                record?.record(event)
                log(event)
            }
            if let record { session.onWire = { record.wire(outgoing: $0, $1) } }
            let end = await session.run(channel)
            findings += session.findings
            if let recordDirectory, let record {
                do {
                    try record.write(to: recordDirectory, name: "A\(queue.attempts)", peer: "\(server)", end: end, ours: .client, findings: session.findings, keyLog: session.keyLogLines)
                } catch {
                    log(.note("could not write the record to \(recordDirectory.path): \(error)"))
                }
            }
            // Messages the machine never decided (the connection ended first) are deferred.
            var outcomes = endpoint.machine.outcomes
            for m in machine.messages where !outcomes.contains(where: { $0.messageID == m.id }) {
                var o = MessageOutcome(messageID: m.id, status: .temporaryFailure, reason: "connection ended before an outcome (\(end))")
                o.recipients = m.recipients.map { RecipientOutcome(recipient: $0, status: .temporaryFailure, attempt: machine.attempt) }
                outcomes.append(o)
            }
            for o in outcomes { latest[o.messageID] = o }
            _ = queue.attemptFinished(endpoint.machine)
            // Each recipient's outcome over the attempts (a recipient delivered on the first keeps it).
            for m in messages { if let merged = queue.results[m.id], !merged.recipients.isEmpty { latest[m.id] = merged } }
            let attempt = Report(
                outcomes: messages.compactMap { latest[$0.id] }, capabilitiesBeforeTLS: endpoint.machine.capabilitiesBeforeTLS,
                capabilities: endpoint.machine.currentCapabilities, tls: session.tlsDetails ?? report?.tls, end: end, attempts: queue.attempts,
                findings: findings)
            report = attempt
            guard queue.plaintextRetry else { break }
        }
        return report!
    }
}
