import SMTPCore
import SMTPServer

struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Feeding: CaseIterable {
    case whole, byteByByte, randomSplits

    func segments(_ bytes: [UInt8], seed: UInt64 = 1) -> [ArraySlice<UInt8>] {
        switch self {
        case .whole: return bytes.isEmpty ? [] : [bytes[...]]
        case .byteByByte: return bytes.indices.map { bytes[$0...$0] }
        case .randomSplits:
            var rng = SplitMix64(seed: seed)
            var out: [ArraySlice<UInt8>] = []
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...min(23, bytes.count - i), using: &rng)
                out.append(bytes[i..<(i + n)])
                i += n
            }
            return out
        }
    }
}

/// Drives a server connection like a driver would, with a pretend TLS layer: after
/// `.startTLS`, `tls()` completes the "handshake" and later bytes count as decrypted.
struct ServerDriver {
    var server: SMTPServerConnection
    var replyParser = ReplyParser()
    var replies: [SMTPReply] = []
    var actions: [ServerAction] = []
    var maildrop = Maildrop()
    var discarded: [Int] = []
    var closed = false
    var awaitingHandshake = false

    init(_ configuration: ServerConfiguration = ServerConfiguration()) {
        server = SMTPServerConnection(configuration: configuration)
        absorb(server.start())
    }

    mutating func absorb(_ list: [ServerAction]) {
        actions += list
        maildrop.record(list)
        for action in list {
            switch action {
            case .send(let bytes):
                replyParser.append(bytes)
                while let r = try? replyParser.next() { replies.append(r) }
            case .startTLS(let n):
                discarded.append(n)
                awaitingHandshake = true
            case .close: closed = true
            case .setTimer, .cancelTimer, .deliver, .note: break
            }
        }
    }

    mutating func send(_ text: String, feeding: Feeding = .whole) {
        send(Array(text.utf8), feeding: feeding)
    }

    mutating func send(_ bytes: [UInt8], feeding: Feeding = .whole) {
        for segment in feeding.segments(bytes) {
            if awaitingHandshake || closed { return }
            absorb(server.receive(segment))
        }
    }

    mutating func tls() {
        precondition(awaitingHandshake)
        awaitingHandshake = false
        absorb(server.tlsEstablished())
    }

    /// Reply codes after the greeting.
    var codes: [Int] { replies.dropFirst().map { Int($0.code.value) } }

    var notes: [ServerNote] { actions.compactMap { if case .note(let n) = $0 { n } else { nil } } }
}

extension ServerConfiguration {
    static func with(_ change: (inout ServerConfiguration) -> Void) -> ServerConfiguration {
        var c = ServerConfiguration()
        change(&c)
        return c
    }
}
