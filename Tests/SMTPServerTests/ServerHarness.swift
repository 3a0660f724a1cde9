import SMTPCore
import SMTPServer
@_exported import TestSupport

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
