import SMTPTLS

/// The on-path attacker that terminates TLS (docs/catalog.md, C6): one TLS session facing the
/// client (as a server, with the attacker's own certificate) and one facing the server (as a
/// client, verifying nothing); plaintext read from one is written into the other.
///
/// Sans-IO: fed the TLS records each side sends, it returns what to send where, in order, and
/// what it read. The simulator's links and `smtpsim proxy`'s sockets both drive it.
public final class TLSInterceptor {
    /// One thing to do, in order.
    public enum Output: Sendable {
        /// TLS records for the stream in this direction.
        case send(Direction, [UInt8])
        /// What the attacker did, for the trace or the log.
        case note(String)
        /// Plaintext the attacker read (from the client, or from the server).
        case read([UInt8], fromClient: Bool)
    }

    let facingClient: TLSConnection
    let facingServer: TLSConnection
    /// Client plaintext waiting for the server-side session.
    private var pendingToServer: [UInt8] = []
    /// Octets of plaintext relayed each way.
    public private(set) var relayed = (toServer: 0, toClient: 0)

    public init(facingClient: TLSContext, facingServer: TLSContext, serverName: String?, verificationTime: Int64) throws(TLSSetupError) {
        self.facingClient = try TLSConnection(context: facingClient, verificationTime: verificationTime)
        self.facingServer = try TLSConnection(context: facingServer, serverName: serverName, verificationTime: verificationTime)
    }

    /// Opens the session to the server (its ClientHello).
    public func start() -> [Output] {
        _ = facingServer.advanceHandshake()
        return [.note("terminating the client's TLS with the attacker's own certificate"), .send(.clientToServer, facingServer.drainCiphertext())]
    }

    /// TLS records travelling in `direction` reach the attacker's session facing their sender.
    public func receive(_ bytes: [UInt8], travelling direction: Direction) -> [Output] {
        let fromClient = direction == .clientToServer
        let near = fromClient ? facingClient : facingServer
        var out: [Output] = []
        near.receiveCiphertext(bytes)
        if !near.isEstablished {
            let status = near.advanceHandshake()
            out.append(.send(direction.reversed, near.drainCiphertext()))
            switch status {
            case .needMoreData:
                return out
            case .failed(let f):
                out.append(.note("\(fromClient ? "client-side" : "server-side") handshake failed: \(f.kind.rawValue)"))
                return out
            case .complete(let d):
                out.append(.note("\(fromClient ? "client" : "server") side established (\(d.version))"))
            }
        }
        if case .data(let plain) = near.readPlaintext() {
            if fromClient {
                pendingToServer += plain
                relayed.toServer += plain.count
                out.append(.read(plain, fromClient: true))
            } else if facingClient.isEstablished {
                try? facingClient.writePlaintext(plain)
                relayed.toClient += plain.count
                out.append(.read(plain, fromClient: false))
                out.append(.send(.serverToClient, facingClient.drainCiphertext()))
            }
        }
        out.append(.send(direction.reversed, near.drainCiphertext()))
        if facingServer.isEstablished, !pendingToServer.isEmpty {
            try? facingServer.writePlaintext(pendingToServer)
            pendingToServer = []
            out.append(.send(.clientToServer, facingServer.drainCiphertext()))
        }
        return out
    }
}
