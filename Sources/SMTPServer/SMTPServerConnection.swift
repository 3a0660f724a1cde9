import SMTPCore

/// One SMTP server connection as a sans-IO state machine (RFC 5321, RFC 3207, RFC 4954,
/// RFC 2920, RFC 3030).
///
/// Responsibilities: read commands from the bytes the driver hands over, answer each with exactly
/// one reply (RFC 5321 §4.2), run mail transactions, and tell the driver — as actions — what to
/// send, when to start TLS, which timers to arm, which messages were accepted, and when to close.
///
/// Rules:
/// - No I/O, clock or randomness: bytes in, actions out; time arrives as `timerFired`.
/// - Replies produced while handling one batch of input go out together, in order, when the
///   input is drained (RFC 2920 §3.2); nothing the client sent is ever lost, except…
/// - …at the 220 to STARTTLS, where every buffered plaintext byte is dropped and counted
///   (RFC 3207 §4.2, CVE-2011-0411), and after the handshake the session starts over: no EHLO,
///   no AUTH, no transaction (RFC 3207 §4.2). Flaw profiles break these rules on purpose.
/// - Errors in a command leave the state as it was (RFC 5321 §4.1.4) and get the reply the
///   parser attached (500/501/555…).
/// - Enhanced status codes are sent once the client used EHLO and ENHANCEDSTATUSCODES is
///   advertised (RFC 2034 §4), never on the greeting or the EHLO reply.
public struct SMTPServerConnection: Sendable {
    public let configuration: ServerConfiguration
    /// Prefix of queue IDs (the driver names its connections).
    public let connectionID: String

    var phase: Phase = .notStarted
    var session = Session()
    /// Everything the client sends is read here: lines, message data, BDAT chunks.
    var stream: ClientStream
    let parser: CommandParser
    var output: [UInt8] = []
    var actions: [ServerAction] = []
    var acceptedCount = 0
    /// Message data octets since the idle timer was last armed (`ServerTimeouts.dataProgressOctets`).
    var dataSinceArmed = 0
    /// How often each rule's trigger was met on this connection (`ServerRule`).
    var ruleCounts: [Int] = []
    /// The reply a firing rule puts in place of the next one the compliant server makes.
    var ruleAnswer: RuleAnswer?
    /// A rule asked to close once its reply is out.
    var closeAfterRule = false
    /// A rule's greeting refused the session: only QUIT is done, everything else is 503
    /// (RFC 5321 §3.1).
    var refusing = false
    /// The greeting (or its delay) began: false only before it, and inside an implicit-TLS
    /// handshake (RFC 8314 §3).
    var greeted = false

    /// A rule's reply standing in for the compliant one (nil: nothing is said).
    struct RuleAnswer: Sendable {
        var reply: RuleReply?
    }

    /// What the connection is waiting for.
    enum Phase: Sendable {
        /// `start()` not called yet.
        case notStarted
        /// The greeting is delayed; bytes from early talkers wait here.
        case greetingDelay(early: [UInt8], heard: Int)
        /// Command lines.
        case commands
        /// Message data after 354 (the stream decodes it).
        case data
        /// The octets of a BDAT chunk; `accepted` false when the command was refused (the octets
        /// are still read, RFC 3030 §2).
        case chunk(accepted: Bool)
        /// An AUTH exchange waiting for the client's next line.
        case auth(AuthStep)
        /// 220 sent to STARTTLS; the driver runs the handshake. `kept` holds plaintext retained by
        /// the keeps-plaintext flaw (empty when compliant).
        case tlsHandshake(kept: [UInt8])
        case closed
    }

    enum AuthStep: Sendable {
        case plain
        case loginUsername
        case loginPassword(username: String)
    }

    /// What the server knows about the client on this connection.
    struct Session: Sendable {
        var tls = false
        /// The TLS session ended and the server reads on in the clear (only a flaw does).
        var clearAfterTLS = false
        var heloName: String?
        var esmtp = false
        /// EHLO was used and ENHANCEDSTATUSCODES is advertised (RFC 2034 §4); set at EHLO/HELO.
        var enhancedCodes = false
        var authenticatedAs: String?
        var transaction: Transaction?
    }

    struct Transaction: Sendable {
        var reversePath: ReversePath
        var parameters: MailParameters
        var recipients: [ForwardPath] = []
        var body: Body = .notStarted
    }

    /// A transaction's message body as far as BDAT goes (DATA reads its body in one phase).
    enum Body: Sendable {
        /// No BDAT yet: DATA is still allowed.
        case notStarted
        /// BDAT chunks so far: stored up to the message size limit, every octet counted.
        case chunks(stored: [UInt8], octets: Int)
        /// A chunk was refused: the rest of the BDAT sequence is refused too (RFC 3030 §2).
        case chunksRefused
    }

    public init(configuration: ServerConfiguration, connectionID: String = "C1") {
        self.configuration = configuration
        self.connectionID = connectionID
        // The framer's hard bound is the longest legal line (AUTH, RFC 4954 §4); the parser
        // enforces 512 for every other command.
        stream = ClientStream(maximumLineLength: max(configuration.limits.authLine, configuration.limits.commandLine))
        parser = CommandParser(limits: configuration.limits)
    }

    // MARK: - Driver interface

    /// The connection is open: greet (or arm the greeting delay).
    public mutating func start() -> [ServerAction] {
        guard case .notStarted = phase else { return [] }
        if configuration.implicitTLS {
            // RFC 8314 §3: TLS first; the greeting comes once the handshake completed.
            phase = .tlsHandshake(kept: [])
            emit(.startTLS(discardedPlaintext: 0))
            // A client that never completes the handshake is let go like one that never speaks
            // (RFC 5321 §4.5.3.2.7).
            emit(.setTimer(.idle, after: configuration.timeouts.command))
            return takeActions()
        }
        openSession()
        return takeActions()
    }

    /// The greeting (or its delay) and the wait for the first command: at the start, or inside
    /// implicit TLS once the handshake completed.
    private mutating func openSession() {
        greeted = true
        if configuration.greetingDelay > 0 {
            phase = .greetingDelay(early: [], heard: 0)
            emit(.setTimer(.greeting, after: configuration.greetingDelay))
        } else {
            greet()
            // RFC 5321 §4.5.3.2.7: the wait for the first command is timed like the others (a
            // client that never speaks is let go, not held until the session limit).
            armIdleTimer()
        }
    }

    /// Bytes from the client (plaintext, or decrypted inside TLS), in any collection.
    public mutating func receive<Bytes: Collection>(_ bytes: Bytes) -> [ServerAction] where Bytes.Element == UInt8 {
        receive(Array(bytes))
    }

    /// Bytes from the client (plaintext, or decrypted inside TLS). An array is read where it
    /// lies (the drivers hand over arrays: no generic walk octet by octet across modules).
    public mutating func receive(_ bytes: [UInt8]) -> [ServerAction] {
        switch phase {
        case .notStarted, .closed:
            return []
        case .greetingDelay(var early, let heard):
            // Held for after the greeting, up to the longest line the server frames; the rest is
            // dropped (an early talker is already out of order, RFC 5321 §4.3.1).
            early += bytes.prefix(max(0, configuration.limits.authLine - early.count))
            phase = .greetingDelay(early: early, heard: heard + bytes.count)
            return [.note(.earlyTalker(octets: heard + bytes.count))]
        case .tlsHandshake:
            preconditionFailure("plaintext delivered to the SMTP core during the TLS handshake")
        case .commands, .data, .chunk, .auth:
            let wasData: Bool
            switch phase {
            case .data, .chunk: wasData = true
            case .notStarted, .greetingDelay, .tlsHandshake, .commands, .auth, .closed: wasData = false
            }
            let before = phase
            process(bytes[...])
            // The idle timer is put off by progress, not by octets: a completed line (commands),
            // or `dataProgressOctets` of message data; a phase change always arms it anew.
            if wasData { dataSinceArmed += bytes.count }
            let progressed = wasData ? dataSinceArmed >= configuration.timeouts.dataProgressOctets : bytes.contains(0x0A)
            if progressed || !Self.samePhase(before, phase) { armIdleTimer() }
            return takeActions()
        }
    }

    /// The driver's TLS handshake completed: the session starts over (RFC 3207 §4.2).
    public mutating func tlsEstablished() -> [ServerAction] {
        guard case .tlsHandshake(let kept) = phase else { return [] }
        if !greeted {
            // Implicit TLS (RFC 8314 §3): the session begins here, inside TLS.
            session.tls = true
            phase = .notStarted
            openSession()
            return takeActions()
        }
        let keptAuth = configuration.has(.keepsAuthAcrossStartTLS) ? session.authenticatedAs : nil
        session = Session(tls: true, authenticatedAs: keptAuth)
        stream.reset()
        phase = .commands
        emit(.note(.resetAfterTLS(keptAuthentication: keptAuth)))
        if !kept.isEmpty { process(kept[...]) }  // the CVE-2011-0411 flaw: old plaintext runs inside TLS
        armIdleTimer()
        return takeActions()
    }

    /// The TLS handshake failed: nothing more can be said on this connection.
    public mutating func tlsFailed() -> [ServerAction] {
        guard case .tlsHandshake = phase else { return [] }
        closeConnection()
        return takeActions()
    }

    public mutating func timerFired(_ timer: ServerTimer) -> [ServerAction] {
        switch (timer, phase) {
        case (.greeting, .greetingDelay(let early, _)):
            phase = .commands
            greet()
            guard !isClosed else { break }
            if !early.isEmpty { process(early[...]) }
            armIdleTimer()
        case (.idle, .commands), (.idle, .data), (.idle, .chunk), (.idle, .auth):
            ruleAnswer = nil  // a rule's answer is for its command, not for this
            reply(.timeout(configuration.hostname))
            closeConnection()
        case (.idle, .tlsHandshake) where !greeted:
            closeConnection()
        case (.greeting, _), (.idle, _):
            break
        }
        return takeActions()
    }

    /// The client closed its side (or the connection broke). An open transaction is abandoned.
    public mutating func peerClosed() -> [ServerAction] {
        phase = .closed
        session.transaction = nil
        _ = stream.release()
        return [.cancelTimer(.idle)]
    }

    /// The TLS session ended under the server: the client's close_notify, or (`byAlert`) a
    /// fatal alert or a record that could not be read. Compliant, the connection is over: nothing
    /// after the end of TLS is read in the clear (RFC 8446 §6.1, RFC 3207 §4.2); after a
    /// close_notify that is the peer closing, after an alert the host closes. The flaws go on
    /// reading the stream as plaintext in whatever state the server was (docs/catalog.md I).
    /// Either way the connection is lost to the compliant server, as after a FIN.
    public mutating func tlsSessionEnded(byAlert: Bool) -> [ServerAction] {
        let flaw: ServerFlaw = byAlert ? .ignoresFatalAlerts : .readsPlaintextAfterCloseNotify
        let reading: Bool
        switch phase {
        case .commands, .data, .chunk, .auth: reading = true
        case .notStarted, .greetingDelay, .tlsHandshake, .closed: reading = false
        }
        if reading, session.tls, configuration.has(flaw) {
            session.clearAfterTLS = true
            return [.resumePlaintext]
        }
        return peerClosed()
    }

    /// The service is going down: 421, then close (RFC 5321 §3.8; may be sent at any time).
    public mutating func shutdown() -> [ServerAction] {
        switch phase {
        case .closed, .notStarted, .tlsHandshake: return []
        case .greetingDelay, .commands, .data, .chunk, .auth:
            ruleAnswer = nil  // a rule's answer is for its command, not for this
            reply(.serviceNotAvailable(configuration.hostname))
            closeConnection()
            return takeActions()
        }
    }

    // MARK: - Observable state (for tests, oracles and traces)

    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    public var isTLSActive: Bool { session.tls }
    public var heloName: String? { session.heloName }
    public var authenticatedAs: String? { session.authenticatedAs }
    public var hasOpenTransaction: Bool { session.transaction != nil }
    /// Plaintext bytes held but not yet parsed (an early talker's too).
    public var bufferedByteCount: Int {
        if case .greetingDelay(let early, _) = phase { return early.count }
        return stream.bufferedByteCount
    }

    /// The phase as a short name.
    public var phaseName: String {
        switch phase {
        case .notStarted: "not-started"
        case .greetingDelay: "greeting-delay"
        case .commands: "commands"
        case .data: "data"
        case .chunk: "bdat-chunk"
        case .auth: "auth"
        case .tlsHandshake: "tls-handshake"
        case .closed: "closed"
        }
    }

    // MARK: - Input processing

    /// Reads the input as the phase needs (lines, message data, chunk octets), switching as
    /// commands demand, until it is used up or the phase stops reading plaintext.
    mutating func process(_ input: ArraySlice<UInt8>) {
        stream.append(input)
        while readsInput, let item = stream.next() {
            switch item {
            case .line(let line, _):
                if case .auth(let step) = phase {
                    handleAuthResponse(line, step: step)
                } else {
                    handleCommandLine(line)
                }
            case .lineError(let error):
                emit(.note(.protocolError(error)))
                if case .auth = phase {
                    phase = .commands
                    reply(error.code == .lineTooLong ? .authLineTooLong : error.reply ?? .syntaxError)
                } else {
                    reply(error.reply ?? .syntaxError)
                }
            case .endOfData(let decoder, _):
                finishData(decoder)
            case .chunkOctets(let octets):
                if case .chunk(accepted: true) = phase { appendChunk(octets) }
            case .endOfChunk(let reader):
                guard case .chunk(let accepted) = phase else { continue }
                finishChunk(reader, accepted: accepted)
            }
            closeIfARuleAsked()
        }
        closeIfARuleAsked()
    }

    private var readsInput: Bool {
        switch phase {
        case .commands, .auth, .data, .chunk: true
        case .notStarted, .greetingDelay, .tlsHandshake, .closed: false
        }
    }

    private mutating func handleCommandLine(_ line: ArraySlice<UInt8>) {
        ruleAnswer = nil
        if let rule = firingRule(.anyCommand, line: line) {
            closeAfterRule = rule.close
            guard rule.acts else { return answerWithoutActing(rule, line) }
            ruleAnswer = RuleAnswer(reply: rule.reply)
        }
        if refusing { return refuse(line) }
        let command: SMTPCommand
        do {
            command = try parser.parse(line, smtpUTF8: session.transaction?.parameters.smtpUTF8 ?? false)
        } catch {
            emit(.note(.protocolError(error)))
            reply(error.reply ?? .syntaxError)
            return
        }
        emit(.note(.command(command)))
        handle(command)
    }

    // MARK: - Output

    /// Queues a reply, with enhanced codes only when negotiated (RFC 2034 §4).
    mutating func reply(_ reply: SMTPReply) {
        if let answer = ruleAnswer {
            ruleAnswer = nil
            output += answer.reply?.wire ?? []
            return
        }
        (session.enhancedCodes ? reply : reply.withoutEnhancedCodes).write(into: &output)
    }

    /// Appends an action. Replies queued so far are flushed first only where the order matters on
    /// the wire (before TLS starts, before closing); everything else leaves the batch intact so a
    /// pipelined group is answered in one segment (RFC 2920 §3.2).
    mutating func emit(_ action: ServerAction) {
        switch action {
        case .startTLS, .close: flush()
        case .send, .setTimer, .cancelTimer, .deliver, .note, .resumePlaintext: break
        }
        if actions.isEmpty { actions.reserveCapacity(Self.actionsPerStep) }
        actions.append(action)
    }

    /// Room for the actions one step usually makes (a reply, a note, a timer), reserved at once
    /// rather than grown one by one.
    static let actionsPerStep = 4

    private mutating func flush() {
        guard !output.isEmpty else { return }
        actions.append(.send(output))
        output = []  // the action owns the bytes now (removeAll(keepingCapacity:) would allocate a twin)
    }

    /// Hands the actions over. Emptied by assignment: keeping the capacity of an array just
    /// handed out would allocate a twin of it on every call, and keep it for the connection's life.
    mutating func takeActions() -> [ServerAction] {
        flush()
        let out = actions
        actions = []
        return out
    }

    /// Closes; what the client sent behind the last command read is never read, and let go.
    mutating func closeConnection() {
        phase = .closed
        session.transaction = nil
        _ = stream.release()
        emit(.cancelTimer(.idle))
        emit(.close)
    }

    private mutating func greet() {
        if let rule = firingRule(.greeting) {
            // A rule's greeting: what it says; one that is not 2yz refuses the session unless
            // the rule acts (RFC 5321 §3.1: 554, then wait for QUIT).
            output += rule.reply?.wire ?? []
            refusing = !rule.acts
            if case .notStarted = phase { phase = .commands }
            if rule.close { closeConnection() }
            return
        }
        let lines = configuration.greeting.isEmpty ? [""] : configuration.greeting
        var greeting = SMTPReply.greeting(configuration.hostname, text: lines[0])
        for extra in lines.dropFirst() { greeting.lines.append(SMTPReply.Line(extra)) }
        reply(greeting)
        if case .notStarted = phase { phase = .commands }
    }

    /// The same kind of phase (a command after a command is progress by its line, not by the phase).
    static func samePhase(_ a: Phase, _ b: Phase) -> Bool { kind(a) == kind(b) }

    private static func kind(_ p: Phase) -> Int {
        switch p {
        case .notStarted: 0
        case .greetingDelay: 1
        case .commands: 2
        case .data: 3
        case .chunk: 4
        case .auth: 5
        case .tlsHandshake: 6
        case .closed: 7
        }
    }

    private mutating func armIdleTimer() {
        dataSinceArmed = 0
        switch phase {
        case .commands, .auth: emit(.setTimer(.idle, after: configuration.timeouts.command))
        case .data, .chunk: emit(.setTimer(.idle, after: configuration.timeouts.data))
        case .notStarted, .greetingDelay, .tlsHandshake, .closed: break
        }
    }

    /// The extensions the EHLO reply lists in the current TLS state.
    var advertisedExtensions: [Capability] {
        var list = session.tls ? configuration.extensionsAfterTLS : configuration.extensionsBeforeTLS
        if session.tls {
            list.removeAll { $0 == .startTLS }
            if configuration.has(.advertisesStartTLSAfterTLS) { list.append(.startTLS) }
        }
        if !configuration.authMechanisms.isEmpty, session.tls || configuration.has(.offersAuthPlainBeforeTLS) {
            list.append(.auth(configuration.authMechanisms))
        }
        return list
    }
}
