import EndpointHosting
import SMTPCore
import SMTPServer
import SMTPTLS

/// `smtpsim probe`: the server-facing checks of docs/catalog.md against a real server, each on a fresh
/// connection (`checkCount` checks, after a control handshake, and a control of its own for I5
/// when its cleartext was answered: at most `connectionCount` connections),
/// every wait bounded by `timeout` and every check by 4 × `timeout`.
public struct Probe: Sendable {
    public var server: HostPort
    /// Seconds per wait (connect, each reply, the TLS handshake).
    public var timeout: Double = 5
    /// How long to listen for replies nobody asked for (injection evidence).
    public var quietWindow: Double = 1
    public var heloName = "probe.smtpsim.test"
    public var mailFrom = "probe@smtpsim.test"
    /// A recipient the server accepts (for the smuggling checks).
    public var rcptTo = "postmaster@localhost"

    /// The server speaks implicit TLS (RFC 8314 §3, port 465): every check opens with the TLS
    /// handshake and reads the greeting inside it; the checks of the STARTTLS upgrade and of the
    /// plaintext before it (`startTLSOnly`) are not applicable.
    public var implicitTLS = false

    /// The catalogue rows that exist only where there is a STARTTLS upgrade: command injection
    /// behind it (D1, D2), its syntax (B5) and AUTH before it (H6).
    public static let startTLSOnly: Set<String> = ["D1", "D2", "B5", "H6"]

    /// smtpsim's own server in memory instead of `server` (`probe --in-memory`): the same
    /// checks, with no socket and no waiting (a quiet window ends at once).
    public var inMemory: InMemoryServer?

    /// The server configuration (flaws included) and TLS context of an in-memory target.
    public struct InMemoryServer: Sendable {
        public var configuration: ServerConfiguration
        /// nil: no TLS (STARTTLS answered 454).
        public var context: TLSContext?
        public init(configuration: ServerConfiguration, context: TLSContext?) {
            self.configuration = configuration
            self.context = context
        }
    }

    /// Where the checks' connections go.
    enum Target {
        case socket(HostPort)
        case inMemory(InMemoryServer)
    }

    var target: Target { inMemory.map { .inMemory($0) } ?? .socket(server) }

    public init(server: HostPort) {
        self.server = server
    }

    public enum Verdict: String, Codable, Sendable {
        case pass, fail
        /// Allowed by the RFC, but not what docs/catalog.md expects of a careful server.
        case warn
        /// The check needs something the server does not offer (e.g. STARTTLS).
        case notApplicable = "n/a"
        /// No clear answer (timeout, unexpected reply).
        case inconclusive
    }

    public struct Result: Codable, Sendable, Equatable {
        /// docs/catalog.md row.
        public var id: String
        public var check: String
        public var verdict: Verdict
        public var detail: String
        /// What the check sent and received, in order.
        public var bytes: [Exchange] = []
    }

    /// Octets a check sent or received: plaintext, inside TLS (before encryption), or in the
    /// clear after a TLS session ended; the text escaped as traces show it (long runs cut), the
    /// exact octets in base64, and when: seconds since the connection opened and, for what was
    /// received, since the check last sent (how long the reply took).
    public struct Exchange: Codable, Sendable, Equatable {
        /// By epoch: SMTP before TLS, SMTP inside TLS (decrypted), octets in the clear after a TLS
        /// session ended, and `wire`: octets as they crossed the socket (TLS records and all: the
        /// probe's own close_notify or alert, a peer's records followed by cleartext).
        static let layers = ["plaintext", "tls", "clear-after-tls", "wire"]
        public enum Direction: String, Codable, Sendable { case sent, received }
        public var direction: Direction
        public var layer: String
        public var text: String
        public var base64: String
        public var octets: Int
        public var seconds: Double
        public var secondsSinceSent: Double?

        init(_ direction: Direction, epoch: Int, _ bytes: [UInt8], seconds: Double = 0, sinceSent: Double? = nil) {
            self.direction = direction
            layer = Self.layers[min(Self.layers.count - 1, max(0, epoch))]
            text = BytePreview.text(bytes, epoch: 0, limit: 4096)
            base64 = Base64.encode(bytes)
            octets = bytes.count
            self.seconds = (seconds * 1000).rounded() / 1000
            secondsSinceSent = sinceSent.map { ($0 * 1000).rounded() / 1000 }
        }
    }

    /// A connection's exchanges as they happen: each with its seconds since the connection
    /// opened and, for what came back, since the last thing sent.
    struct ExchangeLog {
        private let opened = ContinuousClock.now
        private var lastSent: ContinuousClock.Instant?
        private(set) var exchanges: [Exchange] = []

        mutating func append(_ direction: Exchange.Direction, epoch: Int, _ bytes: [UInt8]) {
            let now = ContinuousClock.now
            let since = direction == .received ? lastSent.map { (now - $0).inSeconds } : nil
            if direction == .sent { lastSent = now }
            exchanges.append(Exchange(direction, epoch: epoch, bytes, seconds: (now - opened).inSeconds, sinceSent: since))
        }

        /// The exchanges of another connection (a check's control), after these, their layers
        /// marked `control-`.
        mutating func append(control: [Exchange]) {
            exchanges += control.map { var e = $0; e.layer = "control-" + e.layer; return e }
        }
    }

    /// Every check in the order it runs: its docs/catalog.md row, its name, its script.
    var checks: [(id: String, name: String, script: Script)] {
        var list: [(id: String, name: String, script: Script)] = [
            ("D1", "command-injection-same-segment", injection(late: false, "RSET\r\n")),
            ("D1", "command-injection-noop", injection(late: false, "NOOP\r\n")),
            ("D1", "command-injection-noop-rset", injection(late: false, "NOOP\r\nRSET\r\n")),
            ("D2", "command-injection-late-bytes", injection(late: true, "RSET\r\n")),
            ("B5", "starttls-with-parameters", starttlsWithParameters),
            ("B5", "starttls-twice", starttlsTwice),
            ("B6", "starttls-not-advertised-after-tls", starttlsAdvertisedAfterTLS),
            ("H6", "auth-before-tls", authBeforeTLS),
        ]
        list += sequencing.map { ("F6", $0.0, $0.1) }
        list += [("F2", "command-line-over-512", longLine(600)), ("F2", "command-line-20000", longLine(20_000))]
        list += SmugglingVariant.allCases.map { ("G2", "smuggling-\($0.rawValue)", smuggling($0)) }
        list += Self.lfModeVariants.map { ("G2", "lf-mode-\($0.rawValue)", smuggling($0, as: .bareLFHeaders)) }
        list += SmugglingVariant.allCases.map { ("G2", "bdat-\($0.rawValue)", smuggling($0, as: .bdat)) }
        list += [
            ("I1", "close-notify-mid-data-then-cleartext", closeNotifyMidData),
            ("I2", "close-notify-mid-bdat-then-cleartext", closeNotifyMidBDAT),
            ("I3", "cleartext-inside-tls", cleartextInsideTLS),
            ("I4", "key-update-mid-transaction", keyUpdateMidTransaction),
            ("I5", "fatal-alert-then-cleartext", alertThenCleartext),
        ]
        guard implicitTLS else { return list }
        return list.map { check in
            guard Self.startTLSOnly.contains(check.id) else { return check }
            return (check.id, check.name, { _ in (.notApplicable, "implicit TLS: no STARTTLS upgrade and no plaintext before TLS (RFC 8314 §3)") })
        }
    }

    /// How many checks a probe makes; it opens one connection for each, one before them for
    /// the control handshake, and at most one more: I5's control, when the alert check's
    /// cleartext was answered (`connectionCount`, the most a probe opens).
    public static var checkCount: Int { Probe(server: HostPort(host: "localhost", port: 25)).checks.count }
    public static var connectionCount: Int { checkCount + 2 }

    /// Whether a handshake with nothing injected works on this server (the control, run first):
    /// an injection check whose handshake broke is a pass only when it does.
    var cleanHandshakeWorks = true

    /// Runs the control handshake, then every check in order; `progress` sees each result as it
    /// comes. Throws when the first connection cannot be made (nothing is probed then); later
    /// connection failures are inconclusive results.
    public func run(progress: (Result) -> Void = { _ in }) async throws(NetError) -> [Result] {
        var probe = self
        let control = await controlHandshake()
        if let unreachable = control.unreachable { throw unreachable }
        probe.cleanHandshakeWorks = control.result.verdict == .pass
        var results: [Result] = []
        for check in probe.checks {
            var result = await probe.attempt(check.id, check.name, check.script).result
            Self.relabelLFMode(&result, given: results)
            results.append(result)
            progress(result)
        }
        return results
    }

    /// An `lf-mode-*` warning for a server that ends the data at the same sequence after CRLF
    /// headers too (its `smuggling-*` check failed, run before) is that smuggling bug, not an
    /// LF-only mode: said so (aiosmtpd 1.4.4, Postfix at its defaults).
    static func relabelLFMode(_ result: inout Result, given earlier: [Result]) {
        guard result.verdict == .warn, result.check.hasPrefix("lf-mode-") else { return }
        let variant = result.check.dropFirst("lf-mode-".count)
        guard earlier.contains(where: { $0.check == "smuggling-\(variant)" && $0.verdict == .fail }) else { return }
        result.detail = "after a bare-LF header line it ended the message at \(variant) as it does after CRLF headers (smuggling-\(variant) failed): the same smuggling bug, not an LF-only mode"
    }

    typealias Script = @Sendable (ScriptedConnection) async throws -> (Verdict, String)

    private func check(_ id: String, _ name: String, _ script: Script) async -> Result {
        await attempt(id, name, script).result
    }

    /// One check by itself, by name (tests).
    func result(_ name: String) async -> Result? {
        guard let c = checks.first(where: { $0.name == name }) else { return nil }
        return await check(c.id, c.name, c.script)
    }

    /// A handshake with nothing injected, on its own connection: whether the server's TLS works
    /// at all (so that an injection that "broke the handshake" is not mistaken for a pass
    /// against a server whose every handshake fails).
    func controlHandshake() async -> (result: Result, unreachable: NetError?) {
        await attempt("D0", "control-handshake") { [self] c in
            _ = try await openTLS(c)
            return (.pass, "")
        }
    }

    /// The result, and the connection error when the check could not connect at all.
    private func attempt(_ id: String, _ name: String, _ script: Script) async -> (result: Result, unreachable: NetError?) {
        do {
            let (verdict, detail, bytes) = try await ScriptedConnection.with(target, timeout: timeout) { c in
                do {
                    let (verdict, detail) = try await script(c)
                    return (verdict, detail, c.exchanges)
                } catch let stopped as Stopped {
                    return (stopped.verdict, stopped.detail, c.exchanges)
                }
            }
            return (Result(id: id, check: name, verdict: verdict, detail: detail, bytes: bytes), nil)
        } catch let error as NetError {
            return (Result(id: id, check: name, verdict: .inconclusive, detail: error.description), error)
        } catch {
            return (Result(id: id, check: name, verdict: .inconclusive, detail: "\(error)"), nil)
        }
    }

    // MARK: - Helpers

    /// Greeting and EHLO; the EHLO reply's capabilities, or nil.
    func open(_ c: ScriptedConnection) async throws -> EHLOCapabilities? {
        try await hello(c).flatMap { try? EHLOCapabilities(reply: $0) }
    }

    /// The handshake first under implicit TLS, then the greeting and EHLO: the EHLO reply, or nil.
    func hello(_ c: ScriptedConnection) async throws -> SMTPReply? {
        if implicitTLS, try await !c.handshake() {
            throw Stopped(verdict: .inconclusive, detail: "the implicit-TLS handshake failed (does the server speak implicit TLS on this port?)")
        }
        guard let greeting = try await c.reply(), greeting.n == 220 else { return nil }
        try await c.send("EHLO \(heloName)\r\n")
        guard let ehlo = try await c.reply(), ehlo.n == 250 else { return nil }
        return ehlo
    }

    static func show(_ r: SMTPReply?) -> String {
        guard let r else { return "no reply" }
        return "\(r.n) \(r.lines.first?.text ?? "")"
    }

    // MARK: - Checks

    /// D1/D2 (CVE-2011-0411): commands behind STARTTLS, in the same segment or after the 220.
    /// A handshake the injected bytes broke is a pass only when a control handshake, on its own
    /// connection, succeeds.
    private func injection(late: Bool, _ injected: String) -> Script {
        { [self] c in
            guard let caps = try await open(c) else { return (.inconclusive, "no greeting or EHLO reply") }
            guard caps.startTLS else { return (.notApplicable, "STARTTLS not offered") }
            let what = injected.split(separator: "\r\n").joined(separator: " and ")
            if late {
                try await c.send("STARTTLS\r\n")
                let r = try await c.reply()
                guard r?.n == 220 else { return (.inconclusive, "STARTTLS answered \(Self.show(r))") }
                guard try await c.handshake(before: Array(injected.utf8)) else {
                    guard cleanHandshakeWorks else { return (.inconclusive, "every TLS handshake fails here, with or without injected bytes (the control handshake failed too)") }
                    return (.pass, "plaintext sent after the 220 broke the handshake: it was read as TLS, not executed")
                }
            } else {
                try await c.send("STARTTLS\r\n" + injected)
                let r = try await c.reply()
                guard let r else { return (.pass, "the server closed on pipelined STARTTLS") }
                guard r.n == 220 else { return (.pass, "STARTTLS with \(what) behind it refused: \(Self.show(r))") }
                guard try await c.handshake() else {
                    return (.inconclusive, cleanHandshakeWorks ? "the TLS handshake after the pipelined \(what) failed (a clean one succeeds)" : "every TLS handshake fails here (the control handshake failed too)")
                }
            }
            let unasked = try await c.unsolicited(window: quietWindow)
            if let first = unasked.first {
                return (.fail, "answered the injected \(what) inside TLS: \(Self.show(first))")
            }
            try await c.send("EHLO \(heloName)\r\n")
            let ehlo = try await c.reply()
            let extra = try await c.unsolicited(window: quietWindow / 2)
            if ehlo?.n != 250 || !extra.isEmpty {
                return (.fail, "the first reply inside TLS was \(Self.show(ehlo))\(extra.isEmpty ? "" : " then \(Self.show(extra[0]))"): an injected command was executed")
            }
            return (.pass, "plaintext behind STARTTLS discarded; EHLO inside TLS got exactly one reply")
        }
    }

    /// B5: STARTTLS with a parameter must get 501 (RFC 3207 §4).
    private func starttlsWithParameters(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        guard let caps = try await open(c) else { return (.inconclusive, "no greeting or EHLO reply") }
        guard caps.startTLS else { return (.notApplicable, "STARTTLS not offered") }
        try await c.send("STARTTLS now\r\n")
        let r = try await c.reply()
        switch r?.n {
        case 501?: return (.pass, Self.show(r))
        case 220?: return (.fail, "STARTTLS with a parameter accepted: \(Self.show(r))")
        case let code? where code >= 400: return (.pass, "refused (501 expected): \(Self.show(r))")
        default: return (.inconclusive, Self.show(r))
        }
    }

    /// B5: a second STARTTLS inside TLS is refused (RFC 3207 §4.2).
    private func starttlsTwice(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        _ = try await openTLS(c)
        try await c.send("STARTTLS\r\n")
        let r = try await c.reply()
        if r?.n == 220 { return (.fail, "a second STARTTLS inside TLS was accepted") }
        guard let r, r.n >= 400 else { return (.inconclusive, "second STARTTLS: \(Self.show(r))") }
        return (.pass, "second STARTTLS refused: \(Self.show(r))")
    }

    /// B6: the EHLO reply inside TLS does not list STARTTLS (RFC 3207 §4.2), on a connection of
    /// its own (a server that answers a second STARTTLS with 220 cannot hide it).
    private func starttlsAdvertisedAfterTLS(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        let ehlo = try await openTLS(c)
        guard let caps = try? EHLOCapabilities(reply: ehlo) else { return (.inconclusive, "the EHLO reply inside TLS does not parse") }
        if caps.startTLS { return (.fail, "STARTTLS advertised again inside TLS") }
        return (.pass, "not advertised inside TLS (\(caps.extensions.map(\.keyword).joined(separator: " ")))")
    }

    /// H6: no plaintext AUTH before TLS (RFC 4954 §4 note, RFC 3207 §4).
    private func authBeforeTLS(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        guard let caps = try await open(c) else { return (.inconclusive, "no greeting or EHLO reply") }
        let offered = caps.authMechanisms.filter { ["PLAIN", "LOGIN"].contains($0.uppercased()) }
        if !offered.isEmpty { return (.fail, "offers AUTH \(offered.joined(separator: " ")) before TLS") }
        let plain = Base64.encode(Array("\u{0}probe\u{0}not-a-password".utf8))
        try await c.send("AUTH PLAIN \(plain)\r\n")
        let r = try await c.reply()
        switch r?.n {
        case 235?: return (.fail, "AUTH PLAIN accepted in plaintext")
        case 535?: return (.fail, "AUTH PLAIN credentials checked in plaintext: \(Self.show(r))")
        case nil: return (.inconclusive, "no reply to AUTH")
        default: return (.pass, "plaintext AUTH refused: \(Self.show(r))")
        }
    }

    /// F6: commands out of sequence get 503 and leave the state unchanged (RFC 5321 §4.1.4).
    private var sequencing: [(String, Script)] {
        let from = "MAIL FROM:<\(mailFrom)>\r\n"
        let to = "RCPT TO:<\(rcptTo)>\r\n"
        return [
            ("rcpt-before-mail", outOfOrder(setup: [], command: to)),
            ("data-before-rcpt", outOfOrder(setup: [from], command: "DATA\r\n")),
            ("mail-inside-transaction", outOfOrder(setup: [from], command: from)),
        ]
    }

    private func outOfOrder(setup: [String], command: String) -> Script {
        { [self] c in
            guard try await open(c) != nil else { return (.inconclusive, "no greeting or EHLO reply") }
            for line in setup {
                try await c.send(line)
                let r = try await c.reply()
                guard r?.n == 250 else { return (.inconclusive, "\(line.trimmed) answered \(Self.show(r))") }
            }
            try await c.send(command)
            let r = try await c.reply()
            guard let r else { return (.inconclusive, "no reply to \(command.trimmed)") }
            if r.n == 503 { return (.pass, Self.show(r)) }
            if r.n / 100 == 5 { return (.pass, "refused (503 expected): \(Self.show(r))") }
            if r.n == 354 { try await c.send(".\r\n") }
            return (.fail, "\(command.trimmed) out of sequence answered \(Self.show(r))")
        }
    }

    /// F2: command lines over 512 octets get 500 (RFC 5321 §4.5.3.1.4); the server stays bounded.
    /// A server may answer one long line with several replies (Exim splits it at its buffer and
    /// answers each part): every reply that comes before the line's quiet window is the line's,
    /// and only then does the follow-up NOOP go out, so its reply is its own.
    private func longLine(_ length: Int) -> Script {
        { [self] c in
            guard try await open(c) != nil else { return (.inconclusive, "no greeting or EHLO reply") }
            try await c.send("NOOP " + String(repeating: "x", count: length) + "\r\n")
            var answers: [SMTPReply] = []
            while let r = try await c.reply(timeout: answers.isEmpty ? timeout : quietWindow) { answers.append(r) }
            guard let first = answers.first else { return (c.peerClosed ? .pass : .inconclusive, c.peerClosed ? "closed the connection" : "no reply") }
            var after: SMTPReply?
            if !c.peerClosed {
                do {
                    try await c.send("NOOP\r\n")
                    after = try await c.reply()
                } catch {
                    after = nil  // it closed while the follow-up went out
                }
            }
            let alive = after.map { "; NOOP afterwards: \(Self.show($0))" } ?? "; closed afterwards"
            let replies = answers.count == 1 ? Self.show(first) : "\(answers.count) replies: " + answers.map { Self.show($0) }.joined(separator: ", ")
            if answers.contains(where: { $0.n / 100 == 2 }) {
                // RFC 5321 §4.5.3.1 asks servers to tolerate what they can; docs/catalog.md F2 expects 500.
                return (after == nil ? .fail : .warn, "a \(length + 7)-octet command line accepted (\(replies); 512 is the limit of §4.5.3.1.4)\(alive)")
            }
            return (.pass, "\(replies)\(alive)")
        }
    }

    /// How a smuggling check carries its message.
    enum Carrier {
        /// DATA, CRLF headers: only <CRLF>.<CRLF> may end it (the CVE-2023-51764 class).
        case crlfHeaders
        /// DATA whose first header line ends in a bare LF: Exim then reads the message in
        /// LF-only mode, where `\n.\n`, `\n.\r\n` and `\r\n.\n` end it by design; reported as
        /// its own warning, not as the CVE.
        case bareLFHeaders
        /// One BDAT … LAST chunk (RFC 3030 §2): its octets are counted, never scanned for an end.
        case bdat
    }

    /// The sequences Exim's LF-only mode ends data at.
    static let lfModeVariants: [SmugglingVariant] = [.lfLF, .lfCRLF, .crlfLF]

    /// G2: only <CRLF>.<CRLF> ends DATA (and nothing ends a BDAT chunk but its length); a body
    /// with another end sequence and a second transaction behind it must come out as one message
    /// (or be refused).
    private func smuggling(_ variant: SmugglingVariant, as carrier: Carrier = .crlfHeaders) -> Script {
        { [self] c in
            guard let caps = try await open(c) else { return (.inconclusive, "no greeting or EHLO reply") }
            if carrier == .bdat, !caps.chunking { return (.notApplicable, "CHUNKING not offered") }
            for line in ["MAIL FROM:<\(mailFrom)>\r\n", "RCPT TO:<\(rcptTo)>\r\n"] + (carrier == .bdat ? [] : ["DATA\r\n"]) {
                try await c.send(line)
                let r = try await c.reply()
                guard let r, r.n / 100 == 2 || r.n == 354 else {
                    return (.inconclusive, "\(line.trimmed) answered \(Self.show(r)) (set --rcpt to an accepted address)")
                }
            }
            var body = Array((carrier == .bareLFHeaders ? "Subject: smtpsim probe\n\nfirst message" : "Subject: smtpsim probe\r\n\r\nfirst message").utf8) + variant.bytes
            body += Array("MAIL FROM:<smuggled@smtpsim.test>\r\nRCPT TO:<\(rcptTo)>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n".utf8)
            if carrier == .bdat { body = Array("BDAT \(body.count) LAST\r\n".utf8) + body }
            try await c.send(body)
            var seen: [SMTPReply] = []
            while let r = try await c.reply(timeout: seen.isEmpty ? timeout : quietWindow) { seen.append(r) }
            try? await c.send("QUIT\r\n")
            let codes = seen.map(\.n)
            if codes.contains(354) || codes.filter({ $0 / 100 == 2 }).count > 1 {
                let replies = codes.map(String.init).joined(separator: " ")
                switch carrier {
                case .crlfHeaders: return (.fail, "ended DATA at \(variant.rawValue) and ran the smuggled commands (replies \(replies))")
                case .bareLFHeaders:
                    return (.warn, "after a bare-LF header line it ended the message at \(variant.rawValue) (replies \(replies)), as an LF-only mode does (Exim's, by design); a relay that passes bare LFs through makes it a smuggling pair")
                case .bdat: return (.fail, "ended a BDAT chunk at \(variant.rawValue) inside it and ran the smuggled commands (replies \(replies))")
                }
            }
            guard let first = seen.first else { return (.inconclusive, "no reply after the end of the message") }
            return (.pass, first.n / 100 == 2 ? "one message (\(Self.show(first)))" : "refused: \(Self.show(first))")
        }
    }
}

extension String {
    var trimmed: String { String(self.prefix { $0 != "\r" && $0 != "\n" }) }
}

extension SMTPReply {
    /// The code as a plain number.
    var n: Int { Int(code.value) }
}
