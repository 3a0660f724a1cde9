import EndpointHosting
import SMTPCore
import SMTPTLS

/// One direction of a byte stream.
final class Link {
    let direction: Direction
    var open = true
    /// Deliveries never overtake each other (TCP order): the next one is due no earlier.
    var nextFree: Int64 = 0
    var stalledUntil: Int64 = 0
    /// Bytes dropped from here on (truncation).
    var blackhole = false
    var coalesced: [UInt8] = []
    var coalescedEpoch = 0
    var flushScheduled = false
    /// Ciphertext octets of handshake carried so far.
    var handshakeOctets = 0

    init(direction: Direction) {
        self.direction = direction
    }
}

/// One side of a connection: the endpoint and, after STARTTLS, its TLS engine.
final class Host {
    let side: Side
    let endpoint: SimulatedEndpoint
    var tls: TLSConnection?
    var tlsEstablished = false
    var closed = false
    var timers: [String: UInt64] = [:]
    var timerGeneration: UInt64 = 0
    /// For the TLS-boundary oracle: writes and received plaintext inside TLS.
    var writesInTLS = 0
    var receivedInTLS = 0
    var peerVerified = false
    /// Rolling window of what this side wrote, for pattern triggers.
    var window: [UInt8] = []
    var epoch: Int { tls == nil ? 0 : 1 }

    init(side: Side, endpoint: SimulatedEndpoint) {
        self.side = side
        self.endpoint = endpoint
    }
}

/// A connection between one client attempt and the server.
final class Connection {
    let id: Int
    let client: Int
    let clientHost: Host
    let serverHost: Host
    let c2s = Link(direction: .clientToServer)
    let s2c = Link(direction: .serverToClient)
    var attacker: AttackerState?
    var finished = false
    /// Bumped on reset: events scheduled before are dropped.
    var generation = 0
    /// Fault rules already fired on this connection (by index).
    var fired: [Bool]
    /// Session landmarks for phase triggers.
    var saw354 = false
    var sawFinalDot = false
    /// BDAT chunk octets the client still has to send (message data, not commands).
    var bdatRemaining = 0
    /// For oracles: server replies inside TLS, in order.
    var serverTLSText: [UInt8] = []
    var clientTLSText: [UInt8] = []
    var serverSent235InTLS = false
    /// The TLS-intercepting attacker, once the client started TLS (CATALOG C6).
    var interceptor: Interceptor?
    /// The first EHLO reply inside TLS, once seen.
    var postTLSCapabilities: EHLOCapabilities?
    /// Effects to carry out once the current write has been put on the link.
    var pendingEffects: [FaultEffect] = []
    /// A forced TLS failure class for the client's handshake.
    var forcedHandshakeFailure: String?
    /// Findings already reported on this connection, by oracle.
    var reported: [Oracle] = []

    init(id: Int, client: Int, clientEndpoint: SimulatedEndpoint, serverEndpoint: SimulatedEndpoint?, attacker: AttackerState?, rules: Int = 64) {
        self.id = id
        self.client = client
        clientHost = Host(side: .client, endpoint: clientEndpoint)
        serverHost = Host(side: .server, endpoint: serverEndpoint ?? clientEndpoint)
        self.attacker = attacker
        fired = Array(repeating: false, count: rules)
    }

    func host(_ side: Side) -> Host { side == .client ? clientHost : serverHost }
    func link(_ d: Direction) -> Link { d == .clientToServer ? c2s : s2c }
}

/// The attacker's two TLS sessions when it intercepts: one facing the client (as a server, with
/// the attacker's certificate), one facing the server (as a client, verifying nothing).
final class Interceptor {
    let facingClient: TLSConnection
    let facingServer: TLSConnection
    /// Client plaintext waiting for the server-side session.
    var pendingToServer: [UInt8] = []
    var relayed = (toServer: 0, toClient: 0)

    init(facingClient: TLSConnection, facingServer: TLSConnection) {
        self.facingClient = facingClient
        self.facingServer = facingServer
    }
}
