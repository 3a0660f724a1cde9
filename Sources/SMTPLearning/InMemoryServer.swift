import EndpointHosting
import SMTPCore
import SMTPServer
import SMTPTLS

/// The learner's input alphabet (issue 19): SMTP commands, a body with its final dot, BDAT, the
/// TLS boundary (STARTTLS, the handshake itself, plaintext pipelined behind STARTTLS) and the end
/// of the TLS session (close_notify).
public enum LearningInput: String, CaseIterable, Sendable, Codable {
    case ehlo = "EHLO", helo = "HELO", mail = "MAIL", rcpt = "RCPT", data = "DATA"
    /// A one-line body and its final dot (`hello\r\n.\r\n`).
    case body = "BODY"
    /// A body ended by LF.CRLF (`hello\n.\r\n`), the SMTP-smuggling sequence (docs/catalog.md G2).
    case bodyBareLF = "BODY-LF"
    /// `BDAT 7 LAST` with its chunk (RFC 3030).
    case bdat = "BDAT"
    case rset = "RSET", noop = "NOOP", quit = "QUIT"
    /// `AUTH PLAIN` with the learner's credentials (RFC 4954).
    case auth = "AUTH"
    case starttls = "STARTTLS"
    /// The client's TLS handshake (whether or not the server said 220).
    case handshake = "HANDSHAKE"
    /// `STARTTLS` with `NOOP` behind it in the same write (CVE-2011-0411, docs/catalog.md D1).
    case starttlsPipelined = "STARTTLS+NOOP"
    /// The client's close_notify (docs/catalog.md I); what it sends afterwards goes in the clear.
    case closeNotify = "CLOSE_NOTIFY"
    /// The client's fatal bad_record_mac alert; what it sends afterwards goes in the clear.
    case alert = "ALERT"

    public static let username = "learner", password = "secret"

    /// A reply as the machine's output: its code, and for a multiline 250 (an EHLO reply) the
    /// extensions that decide the TLS boundary, `250(STARTTLS,AUTH)`.
    public static func output(_ reply: SMTPReply) -> String {
        let code = String(reply.code.value)
        guard reply.code.value == 250, reply.lines.count > 1, let caps = try? EHLOCapabilities(reply: reply) else { return code }
        let marks = [caps.startTLS ? "STARTTLS" : nil, caps.authMechanisms.isEmpty ? nil : "AUTH"].compactMap { $0 }
        return marks.isEmpty ? code : "\(code)(\(marks.joined(separator: ",")))"
    }

    /// The octets the input writes (nil: a TLS action).
    public var octets: [UInt8]? {
        switch self {
        case .ehlo: Array("EHLO learner.smtpsim.test\r\n".utf8)
        case .helo: Array("HELO learner.smtpsim.test\r\n".utf8)
        case .mail: Array("MAIL FROM:<learner@smtpsim.test>\r\n".utf8)
        case .rcpt: Array("RCPT TO:<postmaster@smtpsim.test>\r\n".utf8)
        case .data: Array("DATA\r\n".utf8)
        case .body: Array("hello\r\n.\r\n".utf8)
        case .bodyBareLF: Array("hello\n.\r\n".utf8)
        case .bdat: Array("BDAT 7 LAST\r\nhello\r\n".utf8)
        case .rset: Array("RSET\r\n".utf8)
        case .noop: Array("NOOP\r\n".utf8)
        case .quit: Array("QUIT\r\n".utf8)
        case .auth: Array("AUTH PLAIN \(Base64.encode([0] + Array(Self.username.utf8) + [0] + Array(Self.password.utf8)))\r\n".utf8)
        case .starttls: Array("STARTTLS\r\n".utf8)
        case .starttlsPipelined: Array("STARTTLS\r\nNOOP\r\n".utf8)
        case .handshake, .closeNotify, .alert: nil
        }
    }
}

/// smtpsim's server as the system under learning, through the endpoint host without sockets
/// (`DirectConnection`), TLS by OpenSSL with the cheap PSK profile. Outputs are reply codes in
/// order (`250+354`; an EHLO reply with its STARTTLS and AUTH marks), `tls` / `tls-failed` for
/// the handshake (`tls-active` when a session is already up, `tls-ended` after the learner
/// ended it), `timeout` when the server answers nothing (it waits), `closed` once the
/// connection is over (the server closed it, or the learner's handshake failed) and for every
/// input after. After the learner's close_notify or alert its inputs go in the clear, and replies
/// the server sends in the clear read `clear:250`.
public final class InMemoryServer: SystemUnderLearning {
    public let configuration: ServerConfiguration
    public let inputs: [LearningInput]
    public var alphabet: [String] { inputs.map(\.rawValue) }
    private let contexts: (client: TLSContext, server: TLSContext)

    public init(configuration: ServerConfiguration = InMemoryServer.reference, inputs: [LearningInput] = LearningInput.allCases) throws {
        self.configuration = configuration
        self.inputs = inputs
        let psk = PreSharedKey.derived(seed: 1)
        contexts = try DeterministicRandom.with(seed: 1) {
            (try TLSContext(.cheap(role: .client, psk: psk)), try TLSContext(.cheap(role: .server, psk: psk)))
        }
    }

    /// The compliant server learned by default: smtpsim's, with the learner's credentials.
    public static var reference: ServerConfiguration {
        var c = ServerConfiguration()
        c.credentials = [LearningInput.username: LearningInput.password]
        return c
    }

    public func query(_ word: [Int]) throws -> [String] {
        try DeterministicRandom.with(seed: 1) { run(word.map { inputs[$0] }) }
    }

    func run(_ word: [LearningInput]) -> [String] {
        let learner = ReplyReader()
        var replies: [SMTPReply] = []  // as they arrive
        learner.onReceive = { [unowned learner] _ in while let reply = try? learner.replies.next() { replies.append(reply) } }
        let connection = DirectConnection(client: learner, server: BuiltInServerEndpoint(configuration: configuration, connectionID: "L"))
        let contexts = contexts
        connection.tls = { host in .openSSL(context: host.side == .server ? contexts.server : contexts.client, serverName: nil, verificationTime: 0) }
        connection.run()
        // Implicit TLS (RFC 8314 §3): the learner's handshake first; the greeting comes inside it.
        if configuration.implicitTLS { connection.act(.client, [.startTLS]) }
        replies = []  // the greeting is the state the machine starts in
        var query = LearningQuery()
        var clearParser = ReplyParser()  // the server's writes in the clear after the TLS session ended
        var clear: [SMTPReply] = []
        var wireSeen = 0
        var out: [String] = []
        for input in word {
            var parts: [String] = []
            switch query.step(input, open: !learner.closed && connection.isOpen, tlsActive: connection.client?.tlsEstablished == true) {
            case .answered(let output):
                out.append(output)
                continue
            case .handshake:
                learner.handshake = nil
                connection.act(.client, [.startTLS])
                parts.append(query.handshook(learner.handshake?.established == true))
            case .end(let event):
                if let part = query.ended(connection.perform(.client, event)) { parts.append(part) }
            case .send(let octets): connection.act(.client, [.send(octets)])
            case .sendRaw(let octets): connection.sendRaw(octets, from: .client)
            }
            for (from, epoch, bytes) in connection.wire[wireSeen...] where from == .server && epoch == 2 { clearParser.append(bytes) }
            wireSeen = connection.wire.count
            while let reply = try? clearParser.next() { clear.append(reply) }
            out.append(query.output(parts, replies: replies, clear: clear, closed: learner.closed))
            replies = []
        }
        return out
    }
}
