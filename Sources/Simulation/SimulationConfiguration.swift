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

/// A relay between the clients and the server (docs/design.md "Relays"; docs/catalog.md G3): its
/// inbound side is a server that accepts the clients' messages, its outbound side a client that
/// forwards each accepted message to the run's server. What it does to line endings and dots is
/// its two configurations': the server's `rejectBareLineEndings`, the client's `lineEndings`
/// and flaws (`skips-dot-stuffing`), and whether it forwards with BDAT (`useChunking`).
public struct RelaySpec: Hashable, Sendable {
    /// The relay's inbound side (the clients' server).
    public var server = ServerSpec()
    /// The relay's outbound side (its messages are what the inbound side accepts).
    public var client = ClientSpec()
    /// Faults on the links from the relay to the server (the top-level faults are on the
    /// links from the clients to the relay).
    public var faults: [FaultRule] = []
    /// The attacker between the relay and the server.
    public var attacker: [AttackAction] = []

    public static let defaultHostname = "relay.example.test"

    public init() {
        server.configuration.hostname = Self.defaultHostname
        client.configuration.heloName = Self.defaultHostname
    }

    /// One knob for what the relay does with a bare CR or LF it is given: refuse it at the end
    /// of data (RFC 5321 §2.3.8), normalise it to CRLF, or pass it through (the outbound half of
    /// SMTP smuggling, SEC Consult 2023).
    public var lineEndings: LineEndings.Policy {
        get { client.configuration.lineEndings }
        set {
            client.configuration.lineEndings = newValue
            server.configuration.rejectBareLineEndings = newValue == .reject
        }
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
    /// A relay the clients submit to, which forwards to `server`; nil: the clients talk to it.
    public var relay: RelaySpec?
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

    /// The relay's two sides for this run: their rules draw from the run's seed.
    public var seededRelay: (server: ServerConfiguration, client: ClientConfiguration)? {
        guard let relay else { return nil }
        var server = relay.server.configuration
        server.ruleSeed = SimRandom.derive(seed, "relay-server-rules")
        var client = relay.client.configuration
        client.ruleSeed = SimRandom.derive(seed, "relay-client-rules")
        return (server, client)
    }

    /// Client `index`'s configuration for this run: its rules draw from the run's seed.
    public func seededClientConfiguration(_ index: Int) -> ClientConfiguration {
        var client = clients[index].configuration
        client.ruleSeed = SimRandom.derive(seed, "client-rules-\(index)")
        return client
    }
}
