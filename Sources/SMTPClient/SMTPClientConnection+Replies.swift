import SMTPCore

/// Reply handling, phase by phase.
extension SMTPClientConnection {
    mutating func handle(_ reply: SMTPReply) {
        if reply.code.value == 421 {
            // RFC 5321 §3.8: the server is going away; may come at any time.
            failRemaining(.temporaryFailure, "server closing: \(reply)", reply: reply)
            closeNow()
            return
        }
        switch phase {
        case .notStarted, .closed, .handshake:
            return
        case .greeting:
            guard reply.code.value == 220 else {
                failRemaining(.temporaryFailure, "greeting refused: \(reply)", reply: reply)
                return sendQuit()
            }
            send(.ehlo(configuration.heloName), timeout: configuration.timeouts.command)
            phase = .ehlo(afterTLS: false)
        case .ehlo(let afterTLS):
            ehloReply(reply, afterTLS: afterTLS)
        case .helo:
            guard reply.code.value == 250 else {
                failRemaining(.temporaryFailure, "HELO refused: \(reply)", reply: reply)
                return sendQuit()
            }
            capabilities = EHLOCapabilities(domain: reply.lines[0].text)
            proceedAfterHello()
        case .startTLS:
            startTLSReply(reply)
        case .auth(let step):
            authReply(reply, step: step)
        case .transaction(var t):
            transactionReply(reply, &t)
        case .dataEnd(let t):
            finalReply(reply, t)
        case .rset:
            startNextMessage()
        case .quit:
            closeNow()
        }
    }

    // MARK: EHLO / HELO

    private mutating func ehloReply(_ reply: SMTPReply, afterTLS: Bool) {
        guard reply.code.value == 250 else {
            if afterTLS {
                failRemaining(.temporaryFailure, "EHLO refused inside TLS: \(reply)", reply: reply)
                return sendQuit()
            }
            if configuration.policy.demandsVerifiedTLS && !configuration.has(.fallsBackToPlaintext) {
                // docs/catalog.md B3: HELO has no STARTTLS; a required policy cannot go on.
                failRemaining(.temporaryFailure, "EHLO refused, so STARTTLS is impossible: \(reply)", reply: reply, tls: .starttlsNotSupported)
                return sendQuit()
            }
            guard configuration.allowHELOFallback else {
                failRemaining(.temporaryFailure, "EHLO refused: \(reply)", reply: reply)
                return sendQuit()
            }
            send(.helo(configuration.heloName), timeout: configuration.timeouts.command)
            phase = .helo
            return
        }
        do {
            capabilities = try EHLOCapabilities(reply: reply)
        } catch {
            emit(.note(.protocolError(error)))
            failRemaining(.temporaryFailure, "unreadable EHLO reply: \(error)", reply: reply)
            return sendQuit()
        }
        emit(.note(.capabilities(capabilities, afterTLS: afterTLS)))
        if afterTLS {
            if configuration.has(.keepsPreTLSCapabilities), let old = preTLSCapabilities {
                capabilities = old
                emit(.note(.keptPreTLSCapabilities))
            } else {
                emit(.note(.capabilitiesResetAfterTLS))
            }
        }
        proceedAfterHello()
    }

    /// After a successful EHLO/HELO: STARTTLS, AUTH, or the first transaction.
    mutating func proceedAfterHello() {
        let policy = configuration.policy
        if !tlsActive {
            if configuration.has(.sendsAuthBeforeTLS), configuration.credentials != nil, !authAttempted,
                !usableMechanisms.isEmpty
            {
                return startAuth()
            }
            if policy.attemptsTLS && !skipSTARTTLS {
                if capabilities.startTLS {
                    send(.startTLS, timeout: configuration.timeouts.command)
                    phase = .startTLS
                    return
                }
                if policy.demandsVerifiedTLS && !configuration.has(.fallsBackToPlaintext) {
                    failRemaining(.temporaryFailure, "the server does not offer STARTTLS", tls: .starttlsNotSupported)
                    return sendQuit()
                }
                emit(.note(.downgrade("the server does not offer STARTTLS; continuing in plaintext")))
            }
        }
        if let credentials = configuration.credentials, !authenticated, !authAttempted,
            tlsActive || configuration.has(.sendsAuthBeforeTLS)
        {
            if !usableMechanisms.isEmpty { return startAuth() }
            emit(.note(.downgrade("AUTH \(credentials.mechanisms) not offered; continuing without authentication")))
        }
        startNextMessage()
    }

    /// The client's mechanisms the server offers, in the client's order (only those smtpsim implements).
    private var usableMechanisms: [SASL.Mechanism] {
        guard let credentials = configuration.credentials else { return [] }
        return credentials.mechanisms.filter { capabilities.authMechanisms.contains($0) }.compactMap(SASL.Mechanism.init(rawValue:))
    }

    // MARK: STARTTLS

    private mutating func startTLSReply(_ reply: SMTPReply) {
        guard reply.code.value == 220 else {
            if configuration.policy.demandsVerifiedTLS && !configuration.has(.fallsBackToPlaintext) {
                failRemaining(.temporaryFailure, "STARTTLS refused: \(reply)", reply: reply, tls: .starttlsNotSupported)
                return sendQuit()
            }
            emit(.note(.downgrade("STARTTLS refused (\(reply.code)); continuing in plaintext")))
            // RFC 3207 §4: after a refusal the state is as before STARTTLS. No AUTH in plaintext.
            return startNextMessage()
        }
        // RFC 3207 §4.2: nothing read before the handshake may be acted on after it.
        let discarded: Int
        if configuration.has(.keepsBufferedRepliesAcrossStartTLS) {
            discarded = 0
            if replies.bufferedByteCount > 0 { emit(.note(.keptRepliesAcrossStartTLS(octets: replies.bufferedByteCount))) }
        } else {
            discarded = replies.discardBufferedBytes()
        }
        phase = .handshake
        emit(.startTLS(discardedReplyBytes: discarded))
        emit(.setTimer(.handshake, after: configuration.timeouts.tlsHandshake))
    }

    // MARK: AUTH (RFC 4954)

    private mutating func startAuth() {
        guard let credentials = configuration.credentials, let mechanism = usableMechanisms.first else { return startNextMessage() }
        authAttempted = true
        switch mechanism {
        case .plain:
            guard let response = try? SASL.PlainCredentials(username: credentials.username, password: credentials.password).encoded() else {
                failRemaining(.permanentFailure, "credentials cannot be encoded for PLAIN")
                return sendQuit()
            }
            send(.auth(mechanism: "PLAIN", initialResponse: response), timeout: configuration.timeouts.command)
            phase = .auth(.plain)
        case .login:
            send(.auth(mechanism: "LOGIN", initialResponse: nil), timeout: configuration.timeouts.command)
            phase = .auth(.loginUsername)
        }
    }

    private mutating func authReply(_ reply: SMTPReply, step: AuthStep) {
        guard let credentials = configuration.credentials else { return }
        if reply.code.value == 235 {
            authenticated = true
            return proceedAfterHello()
        }
        guard reply.code.value == 334 else {
            failRemaining(Self.status(of: reply), "authentication failed: \(reply)", reply: reply)
            return sendQuit()
        }
        switch step {
        case .loginUsername:
            sendLine(Base64.encode(credentials.username))
            phase = .auth(.loginPassword)
        case .loginPassword:
            sendLine(Base64.encode(credentials.password))
        case .plain:
            sendLine((try? SASL.PlainCredentials(username: credentials.username, password: credentials.password).encoded()) ?? "*")
        }
    }

    private mutating func sendLine(_ text: String) {
        emit(.send(Array(text.utf8) + [13, 10]))
        emit(.setTimer(.reply, after: configuration.timeouts.command))
    }

    // MARK: Transactions

    mutating func startNextMessage() {
        guard nextMessage < messages.count else { return sendQuit() }
        let index = nextMessage
        nextMessage += 1
        let message = messages[index]
        guard decided[message.id] == nil else { return startNextMessage() }
        var t = Transaction(
            index: index, pipelined: configuration.usePipelining && capabilities.pipelining,
            chunking: configuration.useChunking && capabilities.chunking)
        var bytes: [UInt8] = []
        func append(_ command: SMTPCommand) { bytes += (try? command.wire()) ?? [] }
        append(.mail(message.reversePath, message.parameters))
        t.expected = [.mail]
        if t.pipelined {
            for (i, r) in message.recipients.enumerated() {
                append(.rcpt(r, RcptParameters()))
                t.expected.append(.rcpt(i))
            }
            if t.chunking {
                guard let body = chunkBody(message) else { return refuseBody(index) }
                append(.bdat(size: UInt64(body.count), last: true))
                bytes += body
                t.expected.append(.bdat)
            } else {
                append(.data)
                t.expected.append(.data)
            }
        }
        emit(.send(bytes))
        emit(.setTimer(.reply, after: configuration.timeouts.mailOrRcpt))
        phase = .transaction(t)
    }

    private mutating func transactionReply(_ reply: SMTPReply, _ t: inout Transaction) {
        guard !t.expected.isEmpty else { return }
        let expect = t.expected.removeFirst()
        let message = messages[t.index]
        let ok = reply.code.replyClass == .positiveCompletion
        switch expect {
        case .mail:
            t.mailAccepted = ok
            if !ok { t.failure = t.failure ?? failure(message, "MAIL refused", reply) }
            if !t.pipelined {
                if ok, !message.recipients.isEmpty {
                    send(.rcpt(message.recipients[0], RcptParameters()), timeout: configuration.timeouts.mailOrRcpt)
                    t.expected = [.rcpt(0)]
                } else {
                    return finishTransaction(t)
                }
            }
        case .rcpt(let i):
            if ok {
                t.accepted.append(message.recipients[i])
            } else {
                t.refused.append(message.recipients[i])
                t.lastRefusal = reply
            }
            if !t.pipelined {
                if i + 1 < message.recipients.count {
                    send(.rcpt(message.recipients[i + 1], RcptParameters()), timeout: configuration.timeouts.mailOrRcpt)
                    t.expected = [.rcpt(i + 1)]
                } else if t.accepted.isEmpty {
                    t.failure = failure(message, "every recipient refused", t.lastRefusal ?? reply)
                    return finishTransaction(t)
                } else if t.chunking {
                    guard let body = chunkBody(message) else { return refuseBody(t.index) }
                    emit(.send(((try? SMTPCommand.bdat(size: UInt64(body.count), last: true).wire()) ?? []) + body))
                    emit(.setTimer(.reply, after: configuration.timeouts.dataTermination))
                    t.expected = [.bdat]
                } else {
                    send(.data, timeout: configuration.timeouts.dataInitiation)
                    t.expected = [.data]
                }
            }
        case .data:
            if reply.code.value == 354 {
                if t.accepted.isEmpty || t.mailAccepted != true {
                    // RFC 2920 §3.1: DATA accepted with nothing to deliver: end it at once.
                    if t.failure == nil { t.failure = failure(message, "every recipient refused", t.lastRefusal ?? reply) }
                    emit(.send([0x2E, 0x0D, 0x0A]))
                } else {
                    let stuffer = DotStuffer(
                        lineEndings: configuration.has(.emitsBareLF) ? .passThrough : configuration.lineEndings,
                        textLineLimit: nil)
                    guard let payload = try? stuffer.encode(message.body) else {
                        t.failure = MessageOutcome(messageID: message.id, status: .permanentFailure,
                                                   reason: "the message holds a bare CR or LF (RFC 5321 §2.3.8)")
                        emit(.send([0x2E, 0x0D, 0x0A]))
                        emit(.setTimer(.reply, after: configuration.timeouts.dataTermination))
                        phase = .dataEnd(t)
                        return
                    }
                    emit(.send(payload))
                }
                emit(.setTimer(.reply, after: configuration.timeouts.dataTermination))
                phase = .dataEnd(t)
                return
            }
            if t.failure == nil {
                t.failure = failure(message, t.accepted.isEmpty ? "every recipient refused" : "DATA refused",
                                    t.accepted.isEmpty ? (t.lastRefusal ?? reply) : reply)
            }
        case .bdat:
            return finalReply(reply, t)
        }
        if t.expected.isEmpty {
            finishTransaction(t)
        } else {
            phase = .transaction(t)
        }
    }

    /// The reply to the final dot (or to BDAT LAST).
    private mutating func finalReply(_ reply: SMTPReply, _ t: Transaction) {
        var t = t
        let message = messages[t.index]
        if t.failure == nil {
            if reply.code.replyClass == .positiveCompletion, !t.accepted.isEmpty, t.mailAccepted == true {
                var o = MessageOutcome(messageID: message.id, status: .delivered, reason: "accepted: \(reply)", reply: reply)
                o.refusedRecipients = t.refused
                decide(o)
            } else {
                t.failure = failure(message, "message refused", reply)
            }
        }
        t.mailAccepted = false  // the transaction is over either way (RFC 5321 §4.1.1.4)
        finishTransaction(t)
    }

    private mutating func finishTransaction(_ t: Transaction) {
        if var failure = t.failure {
            failure.refusedRecipients = t.refused
            decide(failure)
        }
        if t.mailAccepted == true {
            // MAIL was accepted but the transaction did not complete: reset it.
            send(.rset, timeout: configuration.timeouts.command)
            phase = .rset
        } else {
            startNextMessage()
        }
    }

    private func failure(_ message: OutgoingMessage, _ what: String, _ reply: SMTPReply) -> MessageOutcome {
        MessageOutcome(messageID: message.id, status: Self.status(of: reply), reason: "\(what): \(reply)", reply: reply)
    }

    private mutating func refuseBody(_ index: Int) {
        decide(MessageOutcome(messageID: messages[index].id, status: .permanentFailure,
                              reason: "the message holds a bare CR or LF (RFC 5321 §2.3.8)"))
        startNextMessage()
    }

    /// The BDAT payload: the message with a final CRLF, bare line endings handled as configured
    /// (`LineEndings`, as DATA does); nil when the policy refuses them.
    private func chunkBody(_ message: OutgoingMessage) -> [UInt8]? {
        try? LineEndings.canonical(message.body, policy: configuration.has(.emitsBareLF) ? .passThrough : configuration.lineEndings)
    }
}
