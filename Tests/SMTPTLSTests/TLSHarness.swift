import SMTPTLS
@_exported import TestSupport

/// How ciphertext moves between the two engines.
enum Delivery {
    case whole
    case byteByByte
    case randomSplits(UInt64)
}

/// The outcome of driving two engines against each other in memory.
struct HandshakeOutcome {
    var client: TLSConnection.HandshakeStatus
    var server: TLSConnection.HandshakeStatus
    /// Every ciphertext segment, in order, tagged with its direction ("c>s" / "s>c").
    var transcript: [(String, [UInt8])]

    var clientDetails: TLSSessionDetails? {
        if case .complete(let d) = client { return d }
        return nil
    }

    var serverDetails: TLSSessionDetails? {
        if case .complete(let d) = server { return d }
        return nil
    }

    var clientFailure: TLSFailure? {
        if case .failed(let f) = client { return f }
        return nil
    }

    var serverFailure: TLSFailure? {
        if case .failed(let f) = server { return f }
        return nil
    }

    var transcriptBytes: [UInt8] { transcript.flatMap { Array($0.0.utf8) + $0.1 } }
}

/// Pumps bytes between a client and a server until both stop making progress.
func handshake(_ client: TLSConnection, _ server: TLSConnection, delivery: Delivery = .whole) -> HandshakeOutcome {
    var transcript: [(String, [UInt8])] = []
    var rng = SplitMix64(seed: { if case .randomSplits(let s) = delivery { return s } else { return 0 } }())
    var c = client.advanceHandshake()
    var s = server.advanceHandshake()
    func deliver(_ bytes: [UInt8], to peer: TLSConnection, tag: String) {
        guard !bytes.isEmpty else { return }
        transcript.append((tag, bytes))
        switch delivery {
        case .whole:
            peer.receiveCiphertext(bytes)
            _ = peer.advanceHandshake()
        case .byteByByte:
            for b in bytes {
                peer.receiveCiphertext([b])
                _ = peer.advanceHandshake()
            }
        case .randomSplits:
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...min(300, bytes.count - i), using: &rng)
                peer.receiveCiphertext(bytes[i..<(i + n)])
                _ = peer.advanceHandshake()
                i += n
            }
        }
    }
    for _ in 0..<64 {
        let toServer = client.drainCiphertext()
        deliver(toServer, to: server, tag: "c>s")
        let toClient = server.drainCiphertext()
        deliver(toClient, to: client, tag: "s>c")
        c = client.advanceHandshake()
        s = server.advanceHandshake()
        if toServer.isEmpty && toClient.isEmpty && client.pendingCiphertextCount == 0 && server.pendingCiphertextCount == 0 {
            break
        }
    }
    return HandshakeOutcome(client: c, server: s, transcript: transcript)
}

/// Moves application data both ways after a handshake; returns what each side read.
func exchange(_ client: TLSConnection, _ server: TLSConnection, clientSends: [UInt8], serverSends: [UInt8]) throws -> (toServer: [UInt8], toClient: [UInt8]) {
    try client.writePlaintext(clientSends)
    try server.writePlaintext(serverSends)
    server.receiveCiphertext(client.drainCiphertext())
    client.receiveCiphertext(server.drainCiphertext())
    var a: [UInt8] = []
    var b: [UInt8] = []
    if case .data(let d) = server.readPlaintext() { a = d }
    if case .data(let d) = client.readPlaintext() { b = d }
    return (a, b)
}
