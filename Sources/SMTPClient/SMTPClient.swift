import SMTPCore

/// A client's queue across connection attempts: which messages are still pending, when to try
/// again (RFC 5321 §4.5.4.1), and the final outcome of each message.
///
/// The driver asks for a connection (`nextAttempt()`), runs it, reports how it ended
/// (`attemptFinished(_:)`), and honours the returned delay before asking again.
public struct SMTPClient: Sendable {
    public let configuration: ClientConfiguration
    public private(set) var messages: [OutgoingMessage]
    /// Final or latest outcome per message id.
    public private(set) var results: [String: MessageOutcome] = [:]
    public private(set) var attempts = 0
    /// The last attempt's handshake failed under an opportunistic policy that allows it
    /// (`plaintextRetryAfterTLSFailure`): the next attempt (a new connection) goes without
    /// STARTTLS, as Postfix does at `may` (RFC 7435 §4.1 allows it).
    public private(set) var plaintextRetry = false

    public enum Next: Hashable, Sendable {
        /// Connect again after this many nanoseconds.
        case retry(after: Int64)
        /// Every message has a final outcome.
        case done
    }

    public init(configuration: ClientConfiguration, messages: [OutgoingMessage]) {
        self.configuration = configuration
        self.messages = messages
    }

    /// Messages without a final outcome, each with only the recipients still to be tried (a
    /// recipient that has the message, or was refused for good, is not sent it again: RFC 5321
    /// §4.2.5, §6.1).
    public var pending: [OutgoingMessage] {
        messages.compactMap { message in
            guard let result = results[message.id] else { return message }
            guard result.status == .temporaryFailure else { return nil }
            var todo = message
            todo.recipients = message.recipients.filter { r in
                result.recipients.first { $0.recipient == r }.map { $0.status == .temporaryFailure } ?? true
            }
            return todo.recipients.isEmpty ? nil : todo
        }
    }

    /// A connection for the pending messages, or nil when nothing is pending or attempts ran out.
    public mutating func nextAttempt() -> SMTPClientConnection? {
        let todo = pending
        guard !todo.isEmpty, attempts < configuration.retry.maximumAttempts else { return nil }
        attempts += 1
        return SMTPClientConnection(configuration: configuration, messages: todo, attempt: attempts, skipSTARTTLS: plaintextRetry)
    }

    /// Records an attempt's outcome over what earlier attempts decided: the recipients it tried
    /// take their new outcomes, the others keep theirs, and the message's status is recomputed
    /// from them all.
    mutating func record(_ outcome: MessageOutcome) {
        guard let earlier = results[outcome.messageID], !earlier.recipients.isEmpty else {
            results[outcome.messageID] = outcome
            return
        }
        var merged = outcome
        // A recipient an earlier attempt may have delivered to (a reply lost after the final
        // dot) stays a possible duplicate until an attempt delivers it: a later deferral or
        // refusal does not undo what the server may already hold (RFC 5321 §4.5.3.2.6).
        merged.recipients = earlier.recipients.map { old in
            guard var new = outcome.recipients.first(where: { $0.recipient == old.recipient }) else { return old }
            if old.possibleDuplicate, new.status != .delivered { new.possibleDuplicate = true }
            return new
        }
        merged.refusedRecipients = merged.recipients.filter { $0.status != .delivered }.map(\.recipient)
            .filter { r in earlier.refusedRecipients.contains(r) || outcome.refusedRecipients.contains(r) }
        if let status = DeliveryStatus.of(merged.recipients) { merged.status = status }
        if earlier.possibleDuplicate, merged.status != .delivered { merged.possibleDuplicate = true }
        results[outcome.messageID] = merged
    }

    /// Records the attempt's outcomes; says whether and when to try again.
    public mutating func attemptFinished(_ connection: SMTPClientConnection) -> Next {
        for outcome in connection.outcomes { record(outcome) }
        plaintextRetry = false
        if case .opportunistic = configuration.policy, configuration.plaintextRetryAfterTLSFailure,
            connection.outcomes.contains(where: { $0.tlsResultType != nil && $0.status == .temporaryFailure }),
            !connection.isTLSActive
        {
            plaintextRetry = true
        }
        guard !pending.isEmpty, attempts < configuration.retry.maximumAttempts else { return .done }
        return .retry(after: configuration.retry.delay)
    }

    /// The connection `nextAttempt()` asked for could not be made (refused, timed out): every
    /// pending message is deferred on this attempt.
    public mutating func connectionFailed(reason: String) -> Next {
        for message in pending {
            var o = MessageOutcome(messageID: message.id, status: .temporaryFailure, reason: reason)
            o.attempt = attempts
            o.recipients = message.recipients.map { RecipientOutcome(recipient: $0, status: .temporaryFailure, attempt: attempts) }
            record(o)
        }
        guard attempts < configuration.retry.maximumAttempts else { return .done }
        return .retry(after: configuration.retry.delay)
    }
}
