import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
@_exported import TestSupport

/// A perfect in-memory link between the client and server machines, with a pretend TLS layer
/// (a handshake "succeeds" when both sides asked for it) and hooks for an on-path attacker.
/// The real simulator (issue 5) replaces this with faulty links and OpenSSL.
struct Pair {
    var client: SMTPClientConnection
    var server: SMTPServerConnection
    var maildrop = Maildrop()
    var clientActions: [ClientAction] = []
    var serverActions: [ServerAction] = []
    /// Every byte each side sent, with the TLS epoch (0 plaintext, 1 inside TLS).
    var fromClient: [(epoch: Int, bytes: [UInt8])] = []
    var fromServer: [(epoch: Int, bytes: [UInt8])] = []
    var feeding: Feeding = .whole
    /// What the pretend handshake reports to the client.
    var handshake = TLSHandshakeResult(established: true, peerVerified: true, version: "TLSv1.3")
    /// Rewrites server→client bytes (epoch given); the attacker.
    var toClient: (Int, [UInt8]) -> [UInt8] = { $1 }
    /// Rewrites client→server bytes.
    var toServer: (Int, [UInt8]) -> [UInt8] = { $1 }

    private var epoch = 0
    private var clientWantsTLS = false
    private var serverWantsTLS = false
    private var clientClosed = false
    private var serverClosed = false
    private var queueToClient: [[UInt8]] = []
    private var queueToServer: [[UInt8]] = []

    init(client: ClientConfiguration, server: ServerConfiguration = ServerConfiguration(), messages: [OutgoingMessage]) {
        self.client = SMTPClientConnection(configuration: client, messages: messages)
        self.server = SMTPServerConnection(configuration: server)
    }

    mutating func run() {
        take(server.start())
        take(client.start())
        for _ in 0..<10_000 {
            if !queueToServer.isEmpty {
                let bytes = toServer(epoch, queueToServer.removeFirst())
                if serverWantsTLS {
                    // Bytes where a ClientHello belongs: the handshake fails (a compliant client
                    // sends nothing here).
                    take(server.tlsFailed())
                    continue
                }
                for segment in segments(bytes) where !serverClosed {
                    if serverWantsTLS {
                        take(server.tlsFailed())
                        break
                    }
                    take(server.receive(segment))
                }
                continue
            }
            if !queueToClient.isEmpty {
                let bytes = toClient(epoch, queueToClient.removeFirst())
                if clientWantsTLS { continue }  // TLS bytes: the pretend engine swallows them
                for segment in segments(bytes) where !clientClosed {
                    // Once the client started TLS, later bytes belong to the TLS engine.
                    if clientWantsTLS { break }
                    take(client.receive(segment))
                }
                continue
            }
            if clientWantsTLS {
                clientWantsTLS = false
                if serverWantsTLS && handshake.established {
                    serverWantsTLS = false
                    epoch = 1
                    take(server.tlsEstablished())
                    take(client.tlsHandshakeFinished(handshake))
                } else {
                    var failed = handshake
                    failed.established = false
                    failed.failure = failed.failure ?? "malformed-record"
                    take(client.tlsHandshakeFinished(failed))
                    if serverWantsTLS { serverWantsTLS = false; take(server.tlsFailed()) }
                }
                continue
            }
            break
        }
    }

    private func segments(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        feeding.segments(bytes)
    }

    mutating func take(_ actions: [ServerAction]) {
        serverActions += actions
        maildrop.record(actions)
        for action in actions {
            switch action {
            case .send(let b):
                fromServer.append((epoch, b))
                queueToClient.append(b)
            case .startTLS: serverWantsTLS = true
            case .close:
                serverClosed = true
                if !clientClosed { clientClosed = true; take(client.peerClosed()) }
            case .setTimer, .cancelTimer, .deliver, .note: break
            }
        }
    }

    mutating func take(_ actions: [ClientAction]) {
        clientActions += actions
        for action in actions {
            switch action {
            case .send(let b):
                fromClient.append((epoch, b))
                queueToServer.append(b)
            case .startTLS: clientWantsTLS = true
            case .close:
                clientClosed = true
                if !serverClosed { serverClosed = true; take(server.peerClosed()) }
            case .setTimer, .cancelTimer, .outcome, .note: break
            }
        }
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

