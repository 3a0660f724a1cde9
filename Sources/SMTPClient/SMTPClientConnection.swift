import SMTPCore

/// One connection attempt of an SMTP client as a sans-IO state machine (RFC 5321, RFC 3207,
/// RFC 4954, RFC 2920, RFC 3030, RFC 7435, RFC 8461).
///
/// Responsibilities: greet, EHLO, upgrade with STARTTLS as the policy demands, EHLO again,
/// authenticate, run one mail transaction per queued message (pipelined when offered), QUIT;
/// report an outcome for every message; ask the driver for bytes to be sent, TLS to be started,
/// timers to be armed and the connection to be closed.
///
/// Rules:
/// - No I/O, clock or randomness; replies arrive as bytes, time as `timerFired`.
/// - A policy that demands TLS never lets AUTH or envelope bytes go out in plaintext, and never
///   falls back to HELO (docs/catalog.md B1–B3); a failure there defers the messages with the RFC 8460
///   result type.
/// - At the 220 to STARTTLS every buffered reply byte is dropped and counted; after the
///   handshake the client forgets the capabilities it learnt in plaintext and sends EHLO again
///   (RFC 3207 §4.2).
/// - Every reply in a pipelined group is checked; a 354 with no accepted recipient gets a lone
///   "." (RFC 2920 §3.1).
/// - A reply the grammar rejects (mixed multiline codes, codes outside 2xx–5xx) is fatal: the
///   connection is closed and undecided messages are deferred (RFC 5321 §4.2, docs/catalog.md F1).
/// - A connection lost before a final reply counts as a temporary failure (RFC 5321 §3.8); after
///   the final dot it may duplicate the message (§4.5.3.2.6), which the outcome says.
public struct SMTPClientConnection: Sendable {
    public let configuration: ClientConfiguration
    public let attempt: Int
    public let messages: [OutgoingMessage]
    /// Skip STARTTLS on this attempt (an opportunistic retry after a failed handshake).
    public let skipSTARTTLS: Bool

    var phase: Phase = .notStarted {
        didSet {
            // Closed: nothing more is read; the reply buffer goes, capacity and all (a run holds
            // every connection it made until it ends).
            if case .closed = phase { replies = Self.replyParser() }
        }
    }
    var replies: ReplyParser
    /// How often each rule covered a reply on this connection (`ClientRule`).
    var ruleCounts: [Int] = []
    var session = Session()
    var nextMessage = 0
    var decided: [String: MessageOutcome] = [:]
    var actions: [ClientAction] = []

    enum Phase: Sendable {
        case notStarted
        case greeting
        case ehlo(afterTLS: Bool)
        case helo
        case startTLS
        case handshake
        case auth(AuthStep)
        case transaction(Transaction)
        /// The body (or the lone dot) was sent; waiting for the final reply.
        case dataEnd(Transaction)
        case rset
        case quit
        case closed
    }

    enum AuthStep: Sendable {
        case plain
        case loginUsername
        case loginPassword
    }

    enum Expect: Sendable, Equatable {
        case mail
        case rcpt(Int)
        case data
        /// The reply to a BDAT chunk that is not the last (RFC 3030 §2).
        case bdatChunk
        case bdat
    }

    /// What this connection knows of its session. At the end of the TLS handshake it starts over
    /// as one value (RFC 3207 §4.2: forget what the server said in plaintext).
    struct Session: Sendable {
        enum Security: Sendable {
            case plaintext
            /// Inside TLS; whether the server's certificate verified (a PSK counts as verified).
            case tls(peerVerified: Bool)
        }

        enum Authentication: Sendable, Equatable {
            case none
            /// AUTH was sent (and has not succeeded, or has not been answered yet).
            case attempted
            case succeeded
        }

        var security: Security = .plaintext
        var authentication: Authentication = .none
        /// The capabilities the client acts on now.
        var capabilities = EHLOCapabilities(domain: "")
        /// The capabilities learnt in plaintext, once STARTTLS replaced them.
        var preTLSCapabilities: EHLOCapabilities?

        var inTLS: Bool {
            if case .tls = security { return true }
            return false
        }

        /// Inside TLS with a server certificate that verified (a PSK counts as verified).
        var inVerifiedTLS: Bool {
            if case .tls(peerVerified: true) = security { return true }
            return false
        }
    }

    /// The answer to MAIL FROM.
    enum MailReply: Sendable, Equatable {
        case awaited, accepted, refused
    }

    struct Transaction: Sendable {
        var index: Int
        var pipelined: Bool
        var chunking: Bool
        var expected: [Expect] = []
        var mail: MailReply = .awaited
        var accepted: [ForwardPath] = []
        var refused: [ForwardPath] = []
        /// The reply that refused each of `refused`.
        var refusals: [SMTPReply] = []
        /// MAIL was answered 2yz: only then is a refused RCPT that recipient's own answer (after
        /// a refused MAIL a server refuses every RCPT as out of sequence, RFC 5321 §4.1.4).
        var mailWasAccepted = false
        var lastRefusal: SMTPReply?
        /// Set once the message cannot be delivered on this attempt.
        var failure: MessageOutcome?
        /// BDAT chunks still to send, one per reply, when not pipelining.
        var chunksLeft: [[UInt8]] = []
        /// A reply no command of the transaction allows (a 3yz to MAIL or RCPT, RFC 5321 §4.3.2):
        /// what the server made of the session is unknown, so nothing more goes on it.
        var unexpected: SMTPReply?
    }

    public init(configuration: ClientConfiguration, messages: [OutgoingMessage], attempt: Int = 1, skipSTARTTLS: Bool = false) {
        self.configuration = configuration
        self.messages = messages
        self.attempt = attempt
        self.skipSTARTTLS = skipSTARTTLS
        replies = Self.replyParser()
    }

    /// Reply lines up to `SMTPLimits.tolerantReplyLine` (RFC 5321 §4.5.3.1: be liberal in what is read).
    static func replyParser() -> ReplyParser { ReplyParser(limits: SMTPLimits(replyLine: SMTPLimits.tolerantReplyLine)) }

    // MARK: - Driver interface

    /// The connection is open: wait for the greeting.
    public mutating func start() -> [ClientAction] {
        guard case .notStarted = phase else { return [] }
        if case .mtaSTS(let policy) = configuration.policy, policy.mode == .enforce, !policy.matches(configuration.serverName) {
            // RFC 8461 §4.1: never deliver to an MX the policy does not name.
            failRemaining(.temporaryFailure, "MX \(configuration.serverName) does not match the MTA-STS policy", tls: .validationFailure)
            phase = .closed
            emit(.close)
            return takeActions()
        }
        if configuration.implicitTLS {
            // RFC 8314 §3: TLS from the first octet; the greeting comes inside it.
            phase = .handshake
            emit(.startTLS(discardedReplyBytes: 0))
            emit(.setTimer(.handshake, after: configuration.timeouts.tlsHandshake))
            return takeActions()
        }
        phase = .greeting
        emit(.setTimer(.reply, after: configuration.timeouts.greeting))
        return takeActions()
    }

    /// Bytes from the server (plaintext, or decrypted inside TLS), in any collection.
    public mutating func receive<Bytes: Collection>(_ bytes: Bytes) -> [ClientAction] where Bytes.Element == UInt8 {
        receive(Array(bytes))
    }

    /// Bytes from the server (plaintext, or decrypted inside TLS), read where they lie.
    public mutating func receive(_ bytes: [UInt8]) -> [ClientAction] {
        switch phase {
        case .notStarted, .closed: return []
        case .handshake:
            preconditionFailure("plaintext delivered to the SMTP client during the TLS handshake")
        case .greeting, .ehlo, .helo, .startTLS, .auth, .transaction, .dataEnd, .rset, .quit:
            replies.append(bytes)
            processReplies()
            return takeActions()
        }
    }

    public mutating func timerFired(_ timer: ClientTimer) -> [ClientAction] {
        switch phase {
        case .notStarted, .closed: return []
        case .handshake:
            guard timer == .handshake else { return [] }
            failRemaining(.temporaryFailure, "TLS handshake timed out", tls: .validationFailure)
        case .transaction(let t) where t.expected.contains(.bdat):
            guard timer == .reply else { return [] }
            failRemaining(.temporaryFailure, "timed out waiting for the reply to BDAT LAST", possibleDuplicate: true)
        case .greeting, .ehlo, .helo, .startTLS, .auth, .transaction, .rset, .quit:
            guard timer == .reply else { return [] }
            failRemaining(.temporaryFailure, "timed out waiting for a reply (\(phaseName))")
        case .dataEnd:
            guard timer == .reply else { return [] }
            failRemaining(.temporaryFailure, "timed out waiting for the reply to the final dot", possibleDuplicate: true)
        }
        phase = .closed
        emit(.close)
        return takeActions()
    }

    /// The connection closed or broke.
    /// The TLS session ended under the client: the server's close_notify, or (`byAlert`) a fatal
    /// alert or a record that could not be read. Compliant, the connection is over (RFC 8446
    /// §6.1); with `readsAfterCloseNotify` the client reads on in the clear (docs/catalog.md I8).
    public mutating func tlsSessionEnded(byAlert: Bool) -> [ClientAction] {
        if !byAlert, session.inTLS, configuration.flaws.contains(.readsAfterCloseNotify), !isClosed {
            return [.resumePlaintext]
        }
        // The connection is lost, as after a FIN: RFC 5321 §3.8 (as if 451 had been received).
        return peerClosed()
    }

    public mutating func peerClosed() -> [ClientAction] {
        switch phase {
        case .closed, .notStarted: return []
        case .quit:
            break
        case .dataEnd:
            failRemaining(.temporaryFailure, "connection lost after the final dot, before its reply", possibleDuplicate: true)
        case .transaction(let t) where t.expected.contains(.bdat):
            // BDAT LAST went out with the whole message (pipelined with MAIL and RCPT, perhaps):
            // the server may have accepted it, as after the final dot (RFC 5321 §6.1; RFC 3030 §2;
            // found by the StartTLSBoundary target once it judged outcome classification).
            failRemaining(.temporaryFailure, "connection lost after BDAT LAST, before its reply", possibleDuplicate: true)
        case .greeting, .ehlo, .helo, .startTLS, .handshake, .auth, .transaction, .rset:
            // RFC 5321 §3.8: as if 451 had been received.
            failRemaining(.temporaryFailure, "connection lost (\(phaseName))")
        }
        phase = .closed
        emit(.cancelTimer(.reply))
        return takeActions()
    }

    // MARK: - Observable state

    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    public var isTLSActive: Bool { session.inTLS }
    public var isAuthenticated: Bool { session.authentication == .succeeded }
    /// The capabilities the client acts on now.
    public var currentCapabilities: EHLOCapabilities { session.capabilities }
    /// The capabilities learnt in plaintext, once STARTTLS replaced them (nil before).
    public var capabilitiesBeforeTLS: EHLOCapabilities? { session.preTLSCapabilities }
    /// Outcomes decided so far, in message order.
    public var outcomes: [MessageOutcome] { messages.compactMap { decided[$0.id] } }

    public var phaseName: String {
        switch phase {
        case .notStarted: "not-started"
        case .greeting: session.inTLS ? "greeting-in-tls" : "greeting"
        case .ehlo(let afterTLS): afterTLS ? "ehlo-after-tls" : "ehlo"
        case .helo: "helo"
        case .startTLS: "starttls"
        case .handshake: configuration.implicitTLS ? "implicit-tls-handshake" : "tls-handshake"
        case .auth: "auth"
        case .transaction: "transaction"
        case .dataEnd: "data-end"
        case .rset: "rset"
        case .quit: "quit"
        case .closed: "closed"
        }
    }

    // MARK: - Plumbing

    mutating func processReplies() {
        while true {
            switch phase {
            case .handshake, .closed, .notStarted: return
            case .greeting, .ehlo, .helo, .startTLS, .auth, .transaction, .dataEnd, .rset, .quit: break
            }
            let reply: SMTPReply
            do {
                guard let next = try replies.next() else { return }
                reply = next
            } catch {
                emit(.note(.protocolError(error)))
                failRemaining(.temporaryFailure, "invalid reply from the server: \(error.code)")
                closeNow()
                return
            }
            emit(.note(.reply(reply)))
            emit(.cancelTimer(.reply))
            let what = answering
            let start = actions.count
            handle(reply)
            if let (index, rule) = firingRule(reply, answering: what) {
                apply(rule, ownActionsFrom: start)
                emit(.note(.ruleFired(index: index, answering: what?.rawValue ?? "a reply")))
            }
        }
    }

    mutating func emit(_ action: ClientAction) {
        if actions.isEmpty { actions.reserveCapacity(Self.actionsPerStep) }
        actions.append(action)
    }

    /// Room for the actions one step usually makes (a command, a note, a timer), reserved at once.
    static let actionsPerStep = 4

    /// Hands the actions over (emptied by assignment, as the server's: no twin buffer per call).
    mutating func takeActions() -> [ClientAction] {
        let out = actions
        actions = []
        return out
    }

    /// Sends a command and arms the reply timer. A command the serialiser refuses is a local
    /// error: the message configuration is broken.
    mutating func send(_ command: SMTPCommand, timeout: Int64) {
        guard let bytes = try? command.wire() else { preconditionFailure("unencodable command \(command.verb)") }
        emit(.send(bytes))
        emit(.setTimer(.reply, after: timeout))
    }

    mutating func sendQuit() {
        // skip-quit: a client that just hangs up (RFC 5321 §4.1.1.10 asks for QUIT).
        guard !configuration.skipsQuit else { return closeNow() }
        send(.quit, timeout: configuration.timeouts.command)
        phase = .quit
    }

    mutating func closeNow() {
        phase = .closed
        emit(.cancelTimer(.reply))
        emit(.close)
    }

    /// Records an outcome once per message, with each recipient's: a recipient refused at RCPT
    /// keeps its refusal's status, the others take the transaction's; the message's status is
    /// then its recipients' (`DeliveryStatus.of`): a 4yz to one RCPT defers the message for that
    /// recipient even when the others have it (RFC 5321 §4.2.5, §6.1). `t` is the message's
    /// transaction when the caller holds a newer copy than the phase.
    mutating func decide(_ outcome: MessageOutcome, in t: Transaction? = nil) {
        guard decided[outcome.messageID] == nil else { return }
        var o = outcome
        o.attempt = attempt
        o.overTLS = session.inTLS
        if o.recipients.isEmpty, let message = messages.first(where: { $0.id == o.messageID }) {
            // A recipient's own refusal counts where the transaction could be read: MAIL taken,
            // and no reply the client could not place (then the server's state is unknown).
            let transaction = (t ?? currentTransaction.flatMap { messages[$0.index].id == o.messageID ? $0 : nil })
                .flatMap { $0.mailWasAccepted && $0.unexpected == nil ? $0 : nil }
            o.recipients = message.recipients.map { r in
                if let t = transaction, let k = t.refused.firstIndex(of: r) {
                    let status = Self.status(of: t.refusals[k])
                    if status == .temporaryFailure, o.status == .delivered, configuration.has(.countsDeferredRecipientsAsDelivered) {
                        return RecipientOutcome(recipient: r, status: .delivered, reply: o.reply, attempt: attempt)
                    }
                    return RecipientOutcome(recipient: r, status: status, reply: t.refusals[k], attempt: attempt)
                }
                return RecipientOutcome(recipient: r, status: o.status, reply: o.reply, possibleDuplicate: o.possibleDuplicate, attempt: attempt)
            }
            if let status = DeliveryStatus.of(o.recipients), status != o.status {
                let differing = o.recipients.filter { $0.status == status }
                let what = status == .temporaryFailure ? "deferred" : status == .permanentFailure ? "refused" : "delivered"
                o.reason = "\(what) for \(differing.map { "\($0.recipient) (\($0.reply.map(String.init(describing:)) ?? "no reply"))" }.joined(separator: ", ")); \(o.reason)"
                o.status = status
                if status != .delivered { o.reply = differing.first?.reply ?? o.reply }
            }
        }
        decided[o.messageID] = o
        emit(.outcome(o))
    }

    /// The transaction under way, if any.
    var currentTransaction: Transaction? {
        switch phase {
        case .transaction(let t), .dataEnd(let t): t
        case .notStarted, .greeting, .ehlo, .helo, .startTLS, .handshake, .auth, .rset, .quit, .closed: nil
        }
    }

    /// Defers (or fails) every message not decided yet.
    mutating func failRemaining(_ status: DeliveryStatus, _ reason: String, reply: SMTPReply? = nil, tls: TLSResultType? = nil, possibleDuplicate: Bool = false) {
        let current = currentTransaction?.index
        for (index, message) in messages.enumerated() where decided[message.id] == nil {
            var o = MessageOutcome(messageID: message.id, status: status, reason: reason, reply: reply, tlsResultType: tls)
            o.possibleDuplicate = possibleDuplicate && index == current
            decide(o)
        }
        nextMessage = messages.count
    }

    static func status(of reply: SMTPReply) -> DeliveryStatus {
        reply.code.isPermanent ? .permanentFailure : .temporaryFailure
    }
}
