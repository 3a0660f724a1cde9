import SMTPCore

/// STARTTLS and the handshake (RFC 3207 §4, §4.1, §4.2): at the 220 every buffered reply byte is
/// dropped, the driver runs the handshake, and after it the session starts over.
extension SMTPClientConnection {
    // MARK: STARTTLS

    mutating func startTLSReply(_ reply: SMTPReply) {
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

    /// The driver's TLS handshake finished (or failed).
    public mutating func tlsHandshakeFinished(_ result: TLSHandshakeResult) -> [ClientAction] {
        guard case .handshake = phase else { return [] }
        emit(.cancelTimer(.handshake))
        guard result.established else {
            // RFC 3207 §4: "SHOULD abort the connection"; never resume plaintext on it (RFC 8314
            // §3: nor, under implicit TLS, fall back to the clear).
            failRemaining(.temporaryFailure, "TLS handshake failed: \(result.failure ?? "unknown")",
                          tls: result.rfc8460ResultType ?? .validationFailure)
            phase = .closed
            emit(.close)
            return takeActions()
        }
        session.security = .tls(peerVerified: result.peerVerified)
        if !result.peerVerified {
            let reason = "certificate not verified: \(result.failure ?? "no verification")"
            if configuration.policy.demandsVerifiedTLS && !configuration.has(.ignoresCertificateErrors) {
                failRemaining(.temporaryFailure, reason, tls: result.rfc8460ResultType ?? .validationFailure)
                // RFC 3207 §4.1: the client SHOULD QUIT when the security is not sufficient; inside
                // implicit TLS no greeting has come yet, so the connection is simply closed.
                if configuration.implicitTLS { closeNow() } else { sendQuit() }
                return takeActions()
            }
            emit(.note(.downgrade(reason)))
        }
        if configuration.implicitTLS {
            // RFC 8314 §3: the session begins inside TLS with the server's greeting.
            phase = .greeting
            emit(.setTimer(.reply, after: configuration.timeouts.greeting))
            return takeActions()
        }
        // RFC 3207 §4.2: forget what the server said in plaintext; ask again.
        session = Session(security: session.security, preTLSCapabilities: session.capabilities)
        send(.ehlo(configuration.heloName), timeout: configuration.timeouts.command)
        phase = .ehlo(afterTLS: true)
        // Under the response-injection flaw, bytes kept from plaintext are read now as if the
        // TLS server had sent them.
        processReplies()
        return takeActions()
    }
}
