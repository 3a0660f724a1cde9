import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
@_exported import TestSupport

/// smtpsim's client and server joined by the endpoint host's `DirectConnection`: a perfect
/// in-memory pipe, STARTTLS through a `PassThroughTLS` (so the host's TLS path runs, without
/// OpenSSL's cost), and hooks for an on-path attacker. The simulator adds faults and OpenSSL.
struct Pair {
    private(set) var client: SMTPClientConnection
    private(set) var server: SMTPServerConnection
    var maildrop = Maildrop()
    var clientActions: [ClientAction] = []
    var serverActions: [ServerAction] = []
    /// Every write each side made, with its TLS epoch (0 plaintext, 1 inside TLS).
    var fromClient: [(epoch: Int, bytes: [UInt8])] = []
    var fromServer: [(epoch: Int, bytes: [UInt8])] = []
    var feeding: Feeding = .whole
    /// What the handshake reports to the client instead of the pass-through engine's result.
    var handshake: TLSReport?
    /// Rewrites server→client bytes (epoch given); the attacker.
    var toClient: (Int, [UInt8]) -> [UInt8] = { $1 }
    /// Rewrites client→server bytes.
    var toServer: (Int, [UInt8]) -> [UInt8] = { $1 }

    private let clientConfiguration: ClientConfiguration
    private let serverConfiguration: ServerConfiguration
    private let messages: [OutgoingMessage]

    init(client: ClientConfiguration, server: ServerConfiguration = ServerConfiguration(), messages: [OutgoingMessage]) {
        clientConfiguration = client
        serverConfiguration = server
        self.messages = messages
        self.client = SMTPClientConnection(configuration: client, messages: messages)
        self.server = SMTPServerConnection(configuration: server)
    }

    /// Runs the session to its end with fresh machines (a copy of a pair runs on its own).
    mutating func run() {
        let clientEndpoint = BuiltInClientEndpoint(machine: SMTPClientConnection(configuration: clientConfiguration, messages: messages))
        let serverEndpoint = BuiltInServerEndpoint(configuration: serverConfiguration, connectionID: "C1")
        var clientActions: [ClientAction] = []
        var serverActions: [ServerAction] = []
        clientEndpoint.onActions = { clientActions += $0 }
        serverEndpoint.onActions = { serverActions += $0 }
        let connection = DirectConnection(client: clientEndpoint, server: serverEndpoint)
        let (toClient, toServer, feeding, handshake) = (self.toClient, self.toServer, self.feeding, self.handshake)
        connection.rewrite = { from, epoch, bytes in from == .client ? toServer(epoch, bytes) : toClient(epoch, bytes) }
        connection.segments = { feeding.segments($0) }
        connection.handshakeReport = { $0.side == .client ? handshake : nil }
        connection.run()
        self.clientActions = clientActions
        self.serverActions = serverActions
        maildrop.record(serverActions)
        fromClient = connection.writes.filter { $0.side == .client }.map { ($0.epoch, $0.bytes) }
        fromServer = connection.writes.filter { $0.side == .server }.map { ($0.epoch, $0.bytes) }
        client = clientEndpoint.machine
        server = serverEndpoint.machine
    }

    var outcomes: [MessageOutcome] { client.outcomes }
    var clientNotes: [ClientNote] { clientActions.compactMap { if case .note(let n) = $0 { n } else { nil } } }

    /// What the client sent in plaintext (epoch 0), as text.
    var clientPlaintext: String { String(decoding: fromClient.filter { $0.epoch == 0 }.flatMap(\.bytes), as: UTF8.self) }
    var clientStartTLSDiscards: [Int] {
        clientActions.compactMap { if case .startTLS(let n) = $0 { n } else { nil } }
    }
}

func message(_ id: String = "m1", from: String = "alice@example.test", to: [String] = ["bob@example.net"], body: String = "Subject: hi\r\n\r\nhello\r\n") -> OutgoingMessage {
    OutgoingMessage(
        id: id, from: .mailbox(try! Mailbox(from)), to: to.map { .mailbox(try! Mailbox($0)) }, body: Array(body.utf8))
}

extension ClientConfiguration {
    static func with(_ change: (inout ClientConfiguration) -> Void) -> ClientConfiguration {
        var c = ClientConfiguration()
        change(&c)
        return c
    }
}

extension ServerConfiguration {
    static func with(_ change: (inout ServerConfiguration) -> Void) -> ServerConfiguration {
        var c = ServerConfiguration()
        change(&c)
        return c
    }
}

/// The attacker's byte rewrites used by the tests (the simulator's attacker will offer these).
enum Attack {
    static func replace(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }
}

