import SMTPCore

/// Applying `ServerConfiguration.rules` (docs/scenario-format.md "server.rules"): which rule
/// fires, and what the server does when it answers without acting.
extension SMTPServerConnection {
    /// The first rule that fires at `trigger`; every rule that covers it counts the match.
    mutating func firingRule(_ trigger: ServerRule.Trigger, line: ArraySlice<UInt8>? = nil) -> ServerRule? {
        let rules = configuration.rules
        guard !rules.isEmpty else { return nil }
        if ruleCounts.isEmpty { ruleCounts = Array(repeating: 0, count: rules.count) }
        var fired: Int?
        for (i, rule) in rules.enumerated() where rule.covers(trigger, line: line) {
            if let t = rule.inTransaction, t != (session.transaction != nil) { continue }
            if let names = rule.connections, !names.contains(connectionID) { continue }
            if let tls = rule.condition.tls, tls != session.tls { continue }
            ruleCounts[i] += 1
            if fired == nil, rule.condition.fires(count: ruleCounts[i], inTLS: session.tls, seed: configuration.ruleSeed, connection: connectionID, rule: i) {
                fired = i
            }
        }
        guard let fired else { return nil }
        emit(.note(.ruleFired(index: fired, trigger: line.map { String(decoding: $0.prefix(64), as: UTF8.self) } ?? trigger.description, acts: rules[fired].acts)))
        return rules[fired]
    }

    /// The rule's reply and nothing else; a BDAT's chunk is still read, and dropped (RFC 3030
    /// §2), so the stream stays in step.
    mutating func answerWithoutActing(_ rule: ServerRule, _ line: ArraySlice<UInt8>) {
        output += rule.reply?.wire ?? []
        if case .bdat(let size, let last)? = try? parser.parse(line, smtpUTF8: true) {
            stream.beginChunk(size: size, last: last)
            phase = .chunk(accepted: false)
            // A refused chunk fails the rest of the BDAT sequence, as the compliant server's own
            // refusals do (RFC 3030 §2); a 2yz without acting drops the chunk and says nothing.
            if rule.reply?.isPositive != true, session.transaction != nil { session.transaction?.body = .chunksRefused }
        }
    }

    /// After a refusing greeting: QUIT is answered and closes, everything else gets 503
    /// (RFC 5321 §3.1).
    mutating func refuse(_ line: ArraySlice<UInt8>) {
        if case .quit? = try? parser.parse(line, smtpUTF8: false) {
            reply(.closing(configuration.hostname))
            closeConnection()
        } else {
            reply(.badSequence)
        }
    }

    /// A rule asked to close, and its reply is out.
    mutating func closeIfARuleAsked() {
        guard closeAfterRule, ruleAnswer == nil, !isClosed else { return }
        closeAfterRule = false
        closeConnection()
    }

    /// At the end of a message's data: the rule that decides it, if one fires. Without acting,
    /// the message is not accepted and the transaction is over.
    mutating func endOfDataRule() -> Bool {
        guard let rule = firingRule(.endOfData) else { return false }
        closeAfterRule = rule.close
        guard rule.acts else {
            session.transaction = nil
            output += rule.reply?.wire ?? []
            return true
        }
        ruleAnswer = RuleAnswer(reply: rule.reply)
        return false
    }
}
