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
            session.capabilities = EHLOCapabilities(domain: reply.lines[0].text)
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
            // RFC 5321 §4.1.1.5, §4.3.2: RSET is answered 250. Anything else (a 221 or 421 that
            // closes, a 354 that reads data, a 5yz) leaves the session in a state the client
            // cannot know, so no next transaction starts on it: the rest wait for a new connection.
            guard reply.code.value == 250 else {
                failRemaining(.temporaryFailure, "RSET answered \(reply)", reply: reply)
                return sendQuit()
            }
            startNextMessage()
        case .quit:
            closeNow()
        }
    }
}
