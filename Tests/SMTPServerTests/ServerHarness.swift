import EndpointHosting
import SMTPCore
import SMTPServer
@_exported import TestSupport

/// smtpsim's server behind the endpoint host (`DirectConnection`, this test as its peer). After
/// `.startTLS`, `tls()` sends the `PassThroughTLS` client hello, and later bytes cross the
/// pass-through session; bytes sent while the handshake is awaited are dropped here, as a
/// compliant client sends none.
struct ServerDriver {
    private let endpoint: BuiltInServerEndpoint
    private let connection: DirectConnection
    private let recorder = Recorder()
    var replyParser = ReplyParser()
    var replies: [SMTPReply] = []
    /// Every octet the server wrote, as written (before any TLS).
    var wire: [UInt8] = []
    private var readWrites = 0

    private final class Recorder {
        var actions: [ServerAction] = []
    }

    init(_ configuration: ServerConfiguration = ServerConfiguration(), connectionID: String = "C1") {
        endpoint = BuiltInServerEndpoint(configuration: configuration, connectionID: connectionID)
        connection = DirectConnection(server: endpoint)
        let recorder = recorder
        endpoint.onActions = { recorder.actions += $0 }
        connection.server?.start()
        readReplies()
    }

    var server: SMTPServerConnection { endpoint.machine }
    var actions: [ServerAction] { recorder.actions }
    var maildrop: Maildrop {
        var drop = Maildrop()
        drop.record(actions)
        return drop
    }
    var discarded: [Int] { actions.compactMap { if case .startTLS(let n) = $0 { n } else { nil } } }
    var closed: Bool { connection.server?.closed ?? true }
    var awaitingHandshake: Bool {
        guard let host = connection.server, case .handshaking = host.tls else { return false }
        return !host.closed
    }

    mutating func send(_ text: String, feeding: Feeding = .whole) {
        send(Array(text.utf8), feeding: feeding)
    }

    mutating func send(_ bytes: [UInt8], feeding: Feeding = .whole) {
        for segment in feeding.segments(bytes) {
            if awaitingHandshake || closed { break }
            connection.deliver(Array(segment), to: .server)
        }
        readReplies()
    }

    mutating func tls() {
        precondition(awaitingHandshake)
        connection.deliver(PassThroughTLS.clientHello, to: .server)
        readReplies()
    }

    /// The server's timer `timer` runs out (the latest time it was armed).
    mutating func fire(_ timer: ServerTimer) {
        guard let armed = connection.timers.last(where: { $0.id == .server(timer) }) else { return }
        connection.server?.timerFired(armed.id, generation: armed.generation)
        readReplies()
    }

    /// The operator shuts the service down.
    mutating func shutdown() {
        connection.server?.shutdown()
        readReplies()
    }

    private mutating func readReplies() {
        for write in connection.writes[readWrites...] {
            replyParser.append(write.bytes)
            wire += write.bytes
        }
        readWrites = connection.writes.count
        while let r = try? replyParser.next() { replies.append(r) }
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
