import SMTPCore

/// Command handlers: one per verb, each leaving the state unchanged when it refuses
/// (RFC 5321 §4.1.4).
extension SMTPServerConnection {
    mutating func handle(_ command: SMTPCommand) {
        if configuration.requireTLS, !session.tls {
            // RFC 3207 §4: everything but NOOP, EHLO, STARTTLS and QUIT gets 530 5.7.0.
            switch command {
            case .noop, .ehlo, .startTLS, .quit: break
            case .helo, .mail, .rcpt, .data, .bdat, .rset, .vrfy, .help, .auth, .unknown:
                reply(.mustIssueStartTLS)
                return
            }
        }
        switch command {
        case .ehlo(let domain):
            session.transaction = nil  // RFC 5321 §4.1.4: EHLO resets like RSET
            session.heloName = domain
            session.esmtp = true
            session.enhancedCodes = advertisedExtensions.contains(.enhancedStatusCodes)
            var ehlo = EHLOCapabilities(domain: configuration.hostname, greeting: "Hello \(domain)", extensions: advertisedExtensions)
            if ehlo.extensions.isEmpty { ehlo.greeting = "Hello \(domain)" }
            reply(ehlo.reply)
        case .helo(let domain):
            session.transaction = nil
            session.heloName = domain
            session.esmtp = false
            session.enhancedCodes = false
            reply(SMTPReply(ReplyCode(250)!, nil, "\(configuration.hostname) Hello \(domain)"))
        case .startTLS:
            startTLS()
        case .auth(let mechanism, let initialResponse):
            auth(mechanism: mechanism, initialResponse: initialResponse)
        case .mail(let path, let parameters):
            mail(path, parameters)
        case .rcpt(let path, _):
            rcpt(path)
        case .data:
            data()
        case .bdat(let size, let last):
            bdat(size: size, last: last)
        case .rset:
            session.transaction = nil
            reply(.resetOK)
        case .noop:
            reply(.ok)
        case .quit:
            reply(.closing(configuration.hostname))
            closeConnection()
        case .vrfy:
            reply(.cannotVerify)
        case .help:
            reply(.help)
        case .unknown:
            reply(.commandUnrecognized)
        }
    }

    // MARK: STARTTLS (RFC 3207 §4, §4.2)

    private mutating func startTLS() {
        guard !session.tls else { return reply(.alreadyInTLS) }
        guard configuration.extensionsBeforeTLS.contains(.startTLS) else { return reply(.commandNotImplemented) }
        guard session.heloName != nil else { return reply(.badSequence) }
        guard configuration.tlsAvailable else { return reply(.tlsNotAvailable) }
        reply(.readyToStartTLS)
        // Everything the client sent after STARTTLS, in this segment or earlier ones, is plaintext
        // an attacker may have injected: drop it (or, under the flaw, keep it for later).
        let buffered = stream.takeBufferedBytes()
        if configuration.has(.keepsPlaintextAcrossStartTLS) {
            phase = .tlsHandshake(kept: buffered)
            if !buffered.isEmpty { emit(.note(.keptPlaintextAcrossStartTLS(octets: buffered.count))) }
            emit(.startTLS(discardedPlaintext: 0))
        } else {
            phase = .tlsHandshake(kept: [])
            emit(.startTLS(discardedPlaintext: buffered.count))
        }
        emit(.cancelTimer(.idle))
    }

    // MARK: AUTH (RFC 4954 §4)

    private mutating func auth(mechanism: String, initialResponse: String?) {
        guard session.esmtp else { return reply(.badSequence) }
        guard session.authenticatedAs == nil else { return reply(.badSequence) }
        guard session.transaction == nil else { return reply(.badSequence) }
        guard session.tls || configuration.has(.offersAuthPlainBeforeTLS) else {
            // RFC 4954 §4 note: no plaintext password mechanism before TLS.
            guard !configuration.authMechanisms.isEmpty else { return reply(.commandNotImplemented) }
            switch configuration.authBeforeTLSReply {
            case .mustStartTLS: return reply(.mustIssueStartTLS)
            case .encryptionRequired: return reply(.authEncryptionRequired)
            }
        }
        guard configuration.authMechanisms.contains(mechanism), let known = SASL.Mechanism(rawValue: mechanism) else {
            return reply(.authMechanismUnknown)
        }
        switch known {
        case .plain:
            if let initialResponse {
                do {
                    let bytes = try SASL.decodeInitialResponse(initialResponse)
                    finishPlain(Base64.encode(bytes))
                } catch {
                    reply(error.reply ?? .authInvalidBase64)
                }
            } else {
                phase = .auth(.plain)
                reply(.authChallenge(""))
            }
        case .login:
            if let initialResponse {
                do {
                    let user = try SASL.decodeInitialResponse(initialResponse)
                    phase = .auth(.loginPassword(username: String(decoding: user, as: UTF8.self)))
                    reply(.authChallenge(SASL.loginPasswordChallenge))
                } catch {
                    reply(error.reply ?? .authInvalidBase64)
                }
            } else {
                phase = .auth(.loginUsername)
                reply(.authChallenge(SASL.loginUsernameChallenge))
            }
        }
    }

    /// A line sent in answer to a 334 challenge.
    mutating func handleAuthResponse(_ line: ArraySlice<UInt8>, step: AuthStep) {
        let response: SASL.Response
        do {
            response = try SASL.parseResponse(line, limit: configuration.limits.authLine)
        } catch {
            phase = .commands
            reply(error.reply ?? .authInvalidBase64)
            return
        }
        guard case .data(let bytes) = response else {
            phase = .commands
            return reply(.authCancelled)
        }
        switch step {
        case .plain:
            phase = .commands
            finishPlain(Base64.encode(bytes))
        case .loginUsername:
            phase = .auth(.loginPassword(username: String(decoding: bytes, as: UTF8.self)))
            reply(.authChallenge(SASL.loginPasswordChallenge))
        case .loginPassword(let username):
            phase = .commands
            check(username: username, password: String(decoding: bytes, as: UTF8.self))
        }
    }

    private mutating func finishPlain(_ base64: String) {
        do {
            let credentials = try SASL.PlainCredentials(base64: base64)
            if !credentials.authorizationID.isEmpty, credentials.authorizationID != credentials.username {
                return reply(.authFailed)  // no proxy authorization here
            }
            check(username: credentials.username, password: credentials.password)
        } catch {
            reply(error.reply ?? .authInvalidBase64)
        }
    }

    private mutating func check(username: String, password: String) {
        if let expected = configuration.credentials[username], expected == password {
            session.authenticatedAs = username
            reply(.authSucceeded)
        } else {
            reply(.authFailed)
        }
    }

    // MARK: Mail transaction (RFC 5321 §4.1.1.2–4, §4.5.3.1)

    private mutating func mail(_ path: ReversePath, _ parameters: MailParameters) {
        guard session.heloName != nil else { return reply(.badSequence) }
        guard session.transaction == nil else { return reply(.badSequence) }
        if configuration.requireAuthentication, session.authenticatedAs == nil {
            return reply(SMTPReply(ReplyCode(530)!, EnhancedStatusCode(codeClass: 5, subject: 7, detail: 0), "Authentication required"))
        }
        let advertised = advertisedExtensions
        if let size = parameters.size {
            guard session.esmtp, advertised.contains(where: { if case .size = $0 { true } else { false } }) else {
                return reply(.parametersNotRecognized)
            }
            if size > UInt64(configuration.maximumMessageSize) { return reply(.messageTooBig) }
        }
        if let body = parameters.body {
            let needed: Capability = body == .binaryMIME ? .binaryMIME : .eightBitMIME
            if body != .sevenBit, !(session.esmtp && advertised.contains(needed)) { return reply(.parametersNotRecognized) }
        }
        if parameters.smtpUTF8, !(session.esmtp && advertised.contains(.smtpUTF8)) { return reply(.parametersNotRecognized) }
        if parameters.requireTLS {
            guard session.esmtp, advertised.contains(.requireTLS) else { return reply(.parametersNotRecognized) }
            guard session.tls else { return reply(.requireTLSNotPossible) }
        }
        if parameters.auth != nil, !session.esmtp { return reply(.parametersNotRecognized) }
        guard parameters.other.isEmpty else { return reply(.parametersNotRecognized) }
        session.transaction = Transaction(reversePath: path, parameters: parameters)
        reply(.senderOK)
    }

    private mutating func rcpt(_ path: ForwardPath) {
        guard var transaction = session.transaction else { return reply(.badSequence) }
        guard transaction.recipients.count < configuration.limits.recipients else { return reply(.tooManyRecipients) }
        if case .mailbox(let m) = path, configuration.rejectedRecipients.contains(m.description) {
            return reply(SMTPReply(ReplyCode(550)!, EnhancedStatusCode(codeClass: 5, subject: 1, detail: 1), "Mailbox unavailable"))
        }
        transaction.recipients.append(path)
        session.transaction = transaction
        reply(.recipientOK)
    }

    private mutating func data() {
        guard let transaction = session.transaction, !transaction.recipients.isEmpty, case .notStarted = transaction.body else {
            return reply(.badSequence)
        }
        reply(.startMailInput)
        var terminators: [SmugglingVariant] = []
        if configuration.has(.acceptsBareLFEndOfData) { terminators = ServerFlaw.lenientTerminators }
        phase = .data
        stream.beginData(.init(
            textLineLimit: configuration.limits.textLine, maximumMessageSize: configuration.maximumMessageSize,
            acceptedPseudoTerminators: terminators))
    }

    private mutating func bdat(size: UInt64, last: Bool) {
        // RFC 3030 §2: the chunk's octets are read whatever the answer; refused ones are dropped.
        stream.beginChunk(size: size, last: last)
        guard var transaction = session.transaction, !transaction.recipients.isEmpty else {
            reply(.badSequence)
            phase = .chunk(accepted: false)
            return
        }
        let octets: Int
        switch transaction.body {
        case .chunksRefused:
            reply(.badSequence)
            phase = .chunk(accepted: false)
            return
        case .notStarted: octets = 0
        case .chunks(_, let counted): octets = counted
        }
        if UInt64(octets) + size > UInt64(configuration.maximumMessageSize) {
            transaction.body = .chunksRefused
            session.transaction = transaction
            reply(.messageTooBig)
            phase = .chunk(accepted: false)
            return
        }
        if case .notStarted = transaction.body { transaction.body = .chunks(stored: [], octets: 0) }
        session.transaction = transaction
        phase = .chunk(accepted: true)
    }
}
