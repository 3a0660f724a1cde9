import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS

/// The server side of a run.
public struct ServerSpec: Hashable, Sendable {
    public var configuration = ServerConfiguration()
    /// The certificate the server presents, from the factory.
    public var certificate: CertificateFactory.Variant = .valid
    public var keyType: CertificateFactory.KeyType = .p256
    /// Bring your own certificate instead of the factory's.
    public var identity: TLSIdentity?
    public var minimumTLSVersion: TLSVersion = .tls12
    public var maximumTLSVersion: TLSVersion = .tls13
    public var securityLevel: Int?

    public init() {}
}

/// Whom a client's TLS trusts.
public enum ClientTrust: String, Hashable, Sendable, Codable {
    /// The certificate factory's root.
    case factoryCA = "factory-ca"
    /// Exactly the server's certificate (imported and trusted).
    case pinnedServerCertificate = "pinned-server-cert"
    /// Nothing (no verification).
    case none
}

/// One client of a run.
public struct ClientSpec: Hashable, Sendable {
    public var configuration = ClientConfiguration()
    public var messages: [OutgoingMessage] = []
    public var trust: ClientTrust = .factoryCA
    /// When the first connection opens, simulated nanoseconds after the start.
    public var connectAt: Int64 = 0

    public init(configuration: ClientConfiguration = ClientConfiguration(), messages: [OutgoingMessage] = [], trust: ClientTrust = .factoryCA) {
        self.configuration = configuration
        self.messages = messages
        self.trust = trust
    }
}

/// How TLS is done in a run.
public enum TLSProfile: Hashable, Sendable {
    /// Certificates from the factory, full handshakes.
    case full
    /// The cheap-handshake profile (PSK, no certificates): for fuzzing and large sweeps.
    case cheap(PreSharedKey.Mode)
}

/// Everything that fixes a run, besides the implementations under test.
public struct SimulationConfiguration: Hashable, Sendable {
    public var seed: UInt64
    public var server = ServerSpec()
    public var clients: [ClientSpec] = [ClientSpec()]
    public var faults: [FaultRule] = []
    public var attacker: [AttackAction] = []
    /// Faults strike only before this many simulated nanoseconds; afterwards the run is in its
    /// liveness phase (docs/design.md rule 8).
    public var faultWindow: Int64 = 24 * 3600 * 1_000_000_000
    /// Events the run may process before the liveness oracle gives up.
    public var eventBudget = 200_000
    /// After the fault window, every session must end within this much simulated time
    /// (default 7 days: RFC 5321 §4.5.4.1 gives up on a message after 4–5 days).
    public var livenessWindow: Int64 = 7 * 24 * 3600 * 1_000_000_000
    public var tls: TLSProfile = .full
    /// Unix time of the start of the run (certificates are checked at epoch + simulated time).
    public var epoch: Int64 = CertificateFactory.defaultEpoch
    /// Keep NSS key-log lines for Wireshark.
    public var keyLog = false
    /// Fuzzing only: the cheap profile uses one fixed key and TLS contexts made once per process
    /// (outside the run's random stream), so a run skips `SSL_CTX_new`, OpenSSL 3's costliest
    /// per-context step. A run is still a function of its configuration, in any process.
    public var reuseCheapTLSContexts = false

    public init(seed: UInt64) {
        self.seed = seed
    }
}

extension SimulationConfiguration {
    /// The server's configuration for this run: its rules draw from the run's seed.
    public var seededServerConfiguration: ServerConfiguration {
        var server = server.configuration
        server.ruleSeed = SimRandom.derive(seed, "server-rules")
        return server
    }

    /// Client `index`'s configuration for this run: its rules draw from the run's seed.
    public func seededClientConfiguration(_ index: Int) -> ClientConfiguration {
        var client = clients[index].configuration
        client.ruleSeed = SimRandom.derive(seed, "client-rules-\(index)")
        return client
    }
}
