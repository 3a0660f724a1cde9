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
        /// The stream in this direction ends (a FIN after what was sent).
        case end(Direction)
    }

    let facingClient: TLSConnection
    let facingServer: TLSConnection
    /// Client plaintext waiting for the server-side session.
    private var pendingToServer: [UInt8] = []
    /// Octets of plaintext relayed each way.
    public private(set) var relayed = (toServer: 0, toClient: 0)
    /// Records of at most this many octets toward each side (`tls-record-size`).
    public var recordSize: [Side: Int] = [:]
    /// A record fault waiting for the next record toward each side.
    public var damage: [Side: RecordDamage] = [:]
    /// How many octets of plaintext the attacker read from a side it relays (the rest is
    /// dropped: a fault that ends the other session cuts there); nil relays everything.
    public var relayedPrefix: ((_ from: Side, _ plain: [UInt8]) -> Int)?

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
        if case .data(let read) = near.readPlaintext() {
            let plain = relayedPrefix.map { Array(read.prefix(max(0, $0(fromClient ? .client : .server, read)))) } ?? read
            if fromClient {
                pendingToServer += plain
                relayed.toServer += plain.count
                out.append(.read(plain, fromClient: true))
            } else if facingClient.isEstablished {
                write(plain, toward: .client)
                relayed.toClient += plain.count
                out.append(.read(plain, fromClient: false))
                out += drain(toward: .client)
            }
        }
        out.append(.send(direction.reversed, near.drainCiphertext()))
        if facingServer.isEstablished, !pendingToServer.isEmpty {
            write(pendingToServer, toward: .server)
            pendingToServer = []
            out += drain(toward: .server)
        }
        return out
    }

    /// The session facing `side`.
    private func session(toward side: Side) -> TLSConnection { side == .client ? facingClient : facingServer }

    private func write(_ plain: [UInt8], toward side: Side) {
        let engine = session(toward: side)
        let size = recordSize[side].map { max(1, $0) } ?? max(1, plain.count)
        var start = 0
        while start < plain.count {
            try? engine.writePlaintext(Array(plain[start..<min(plain.count, start + size)]))
            start += size
        }
    }

    /// What the session facing `side` has to send, with a waiting record fault applied.
    private func drain(toward side: Side) -> [Output] {
        var bytes = session(toward: side).drainCiphertext()
        guard !bytes.isEmpty else { return [] }
        let direction: Direction = side == .client ? .serverToClient : .clientToServer
        var out: [Output] = []
        if let damage = damage[side], let what = damage.apply(to: &bytes) {
            self.damage[side] = nil
            out.append(.note("\(damage.kind.rawValue) toward the \(side.rawValue): \(what)"))
            out.append(.send(direction, bytes))
            if damage == .truncate { out.append(.end(direction)) }
            return out
        }
        return [.send(direction, bytes)]
    }

    /// The attacker performs a TLS session event on its session facing `side` (as that side's
    /// peer would), then sends `cleartext` on that stream (docs/catalog.md I).
    public func perform(_ event: TLSSessionEvent, toward side: Side, cleartext: [UInt8] = []) -> [Output] {
        let direction: Direction = side == .client ? .serverToClient : .clientToServer
        guard session(toward: side).isEstablished, event.perform(on: session(toward: side)) else {
            return [.note("\(event) toward the \(side.rawValue): no established session, or the version cannot carry it")]
        }
        var out: [Output] = [.note("\(event) toward the \(side.rawValue)")]
        out += drain(toward: side)
        if !cleartext.isEmpty { out.append(.send(direction, cleartext)) }
        return out
    }
}
