import SMTPCore

/// The greeting, EHLO and HELO (RFC 5321 §4.1.1.1; RFC 3207 §4.2 after TLS), and what follows a
/// hello: STARTTLS as the policy demands, AUTH, or the first transaction.
extension SMTPClientConnection {
    // MARK: EHLO / HELO

    mutating func ehloReply(_ reply: SMTPReply, afterTLS: Bool) {
        guard reply.code.value == 250 else {
            if afterTLS {
                failRemaining(.temporaryFailure, "EHLO refused inside TLS: \(reply)", reply: reply)
                return sendQuit()
            }
            if !session.inTLS, configuration.policy.demandsVerifiedTLS && !configuration.has(.fallsBackToPlaintext) {
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
            session.capabilities = try EHLOCapabilities(reply: reply)
        } catch {
            emit(.note(.protocolError(error)))
            failRemaining(.temporaryFailure, "unreadable EHLO reply: \(error)", reply: reply)
            return sendQuit()
        }
        emit(.note(.capabilities(session.capabilities, afterTLS: afterTLS)))
        if afterTLS {
            if configuration.has(.keepsPreTLSCapabilities), let old = session.preTLSCapabilities {
                session.capabilities = old
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
        if !session.inTLS {
            if configuration.has(.sendsAuthBeforeTLS), configuration.credentials != nil, session.authentication == .none,
                !usableMechanisms.isEmpty
            {
                return startAuth()
            }
            if policy.attemptsTLS && !skipSTARTTLS {
                if session.capabilities.startTLS {
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
        if let credentials = configuration.credentials, session.authentication == .none,
            session.inTLS || configuration.has(.sendsAuthBeforeTLS)
        {
            // Credentials go only to a server whose certificate verified (RFC 8314 §5.1; docs/
            // catalog.md H6): an opportunistic session with an unverified one goes on without them.
            if session.inTLS, !session.inVerifiedTLS, !configuration.has(.sendsAuthBeforeTLS), !configuration.has(.ignoresCertificateErrors) {
                emit(.note(.downgrade("the server's certificate did not verify; continuing without sending credentials")))
            } else {
                if !usableMechanisms.isEmpty { return startAuth() }
                emit(.note(.downgrade("AUTH \(credentials.mechanisms) not offered; continuing without authentication")))
            }
        }
        startNextMessage()
    }

    /// The client's mechanisms the server offers, in the client's order (only those smtpsim implements).
    var usableMechanisms: [SASL.Mechanism] {
        guard let credentials = configuration.credentials else { return [] }
        return credentials.mechanisms.filter { session.capabilities.authMechanisms.contains($0) }.compactMap(SASL.Mechanism.init(rawValue:))
    }
}
