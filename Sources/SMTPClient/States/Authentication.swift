import SMTPCore

/// AUTH PLAIN and LOGIN (RFC 4954, RFC 4616), inside TLS unless a flaw profile says otherwise.
extension SMTPClientConnection {
    // MARK: AUTH (RFC 4954)

    mutating func startAuth() {
        guard let credentials = configuration.credentials, let mechanism = usableMechanisms.first else { return startNextMessage() }
        session.authentication = .attempted
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

    mutating func authReply(_ reply: SMTPReply, step: AuthStep) {
        guard let credentials = configuration.credentials else { return }
        if reply.code.value == 235 {
            session.authentication = .succeeded
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

    mutating func sendLine(_ text: String) {
        emit(.send(Array(text.utf8) + [13, 10]))
        emit(.setTimer(.reply, after: configuration.timeouts.command))
    }
}
