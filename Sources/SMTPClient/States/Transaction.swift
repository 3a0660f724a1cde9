import SMTPCore

/// One mail transaction per message: MAIL, RCPT, DATA or BDAT, pipelined when offered (RFC 5321
/// §3.3, RFC 2920, RFC 3030), and the final reply that decides the message.
extension SMTPClientConnection {
    // MARK: Transactions

    mutating func startNextMessage() {
        guard nextMessage < messages.count else { return sendQuit() }
        let index = nextMessage
        nextMessage += 1
        let message = messages[index]
        guard decided[message.id] == nil else { return startNextMessage() }
        var t = Transaction(
            index: index, pipelined: configuration.usePipelining && (session.capabilities.pipelining || configuration.pipelinesRegardless),
            chunking: configuration.useChunking && session.capabilities.chunking)
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
                for chunk in bdatChunks(body) {
                    bytes += chunk.wire
                    t.expected.append(chunk.expect)
                }
            } else {
                append(.data)
                t.expected.append(.data)
            }
        }
        emit(.send(bytes))
        emit(.setTimer(.reply, after: configuration.timeouts.mailOrRcpt))
        phase = .transaction(t)
    }

    mutating func transactionReply(_ reply: SMTPReply, _ t: inout Transaction) {
        guard !t.expected.isEmpty else { return }
        let expect = t.expected.removeFirst()
        let message = messages[t.index]
        let ok = reply.code.replyClass == .positiveCompletion
        if reply.code.replyClass == .positiveIntermediate, expect != .data, t.unexpected == nil {
            // RFC 5321 §4.3.2: MAIL, RCPT and BDAT are answered 2yz, 4yz or 5yz. The rest of a
            // pipelined group is still read (a 354 to its DATA still gets its dot), then the
            // client leaves.
            t.unexpected = reply
        }
        switch expect {
        case .mail:
            t.mail = ok ? .accepted : .refused
            t.mailWasAccepted = ok
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
                t.refusals.append(reply)
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
                    var chunks = bdatChunks(body)
                    let first = chunks.removeFirst()
                    emit(.send(first.wire))
                    emit(.setTimer(.reply, after: configuration.timeouts.dataTermination))
                    t.expected = [first.expect]
                    t.chunksLeft = chunks.map(\.wire)
                } else {
                    send(.data, timeout: configuration.timeouts.dataInitiation)
                    t.expected = [.data]
                }
            }
        case .data:
            if reply.code.value == 354 {
                if t.accepted.isEmpty || t.mail != .accepted {
                    // RFC 2920 §3.1: DATA accepted with nothing to deliver: end it at once.
                    if t.failure == nil { t.failure = failure(message, "every recipient refused", t.lastRefusal ?? reply) }
                    emit(.send([0x2E, 0x0D, 0x0A]))
                } else {
                    let stuffer = DotStuffer(
                        lineEndings: configuration.has(.emitsBareLF) ? .passThrough : configuration.lineEndings,
                        textLineLimit: nil, stuffsDots: !configuration.has(.skipsDotStuffing))
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
        case .bdatChunk:
            if !ok, t.failure == nil { t.failure = failure(message, "BDAT chunk refused", reply) }
            if !ok {
                // RFC 3030 §2: after a 4yz or 5yz to a chunk the transaction has failed and no
                // further chunk may be sent; one already pipelined is refused by the server.
                t.chunksLeft = []
            }
            if !t.chunksLeft.isEmpty {
                // One chunk per reply without pipelining; the last one is BDAT … LAST.
                let next = t.chunksLeft.removeFirst()
                emit(.send(next))
                emit(.setTimer(.reply, after: configuration.timeouts.dataTermination))
                t.expected = [t.chunksLeft.isEmpty ? .bdat : .bdatChunk]
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
    mutating func finalReply(_ reply: SMTPReply, _ t: Transaction) {
        var t = t
        let message = messages[t.index]
        // A message already failed ended its DATA with a lone dot (RFC 2920 §3.1).
        let loneDot = t.failure != nil
        if reply.code.replyClass == .positiveCompletion, t.unexpected != nil {
            // The server took the data after a reply the client could not read as yes or no (a
            // 354 to RCPT, then BDAT LAST pipelined behind it): the message may be delivered.
            var o = failure(message, "the server accepted the data after \(t.unexpected!)", t.unexpected!)
            o.possibleDuplicate = true
            t.failure = o
        } else if t.failure == nil {
            if reply.code.replyClass == .positiveCompletion, !t.accepted.isEmpty, t.mail == .accepted {
                var o = MessageOutcome(messageID: message.id, status: .delivered, reason: "accepted: \(reply)", reply: reply)
                o.refusedRecipients = t.refused
                decide(o, in: t)
            } else if reply.code.replyClass == .positiveIntermediate {
                // Neither taken nor refused (RFC 5321 §4.3.2): the server may hold the message.
                var o = failure(message, "unexpected reply to the end of data", reply)
                o.possibleDuplicate = true
                t.failure = o
                t.unexpected = reply
            } else {
                t.failure = failure(message, "message refused", reply)
            }
        }
        // The reply to the final dot ends the transaction (RFC 5321 §4.1.1.4), except that a
        // refusal of a lone dot may be the refusal of a line a server that was not reading data
        // took for a command (its 354 to DATA without recipients was not to be trusted), and a
        // refused BDAT LAST leaves the transaction open (RFC 3030 §2): then an accepted MAIL is
        // reset.
        if reply.code.replyClass == .positiveCompletion || !(loneDot || t.chunking) { t.mail = .refused }
        finishTransaction(t)
    }

    mutating func finishTransaction(_ t: Transaction) {
        if var failure = t.failure {
            failure.refusedRecipients = t.refused
            decide(failure, in: t)
        }
        if let reply = t.unexpected {
            failRemaining(.temporaryFailure, "the server's state is unknown after \(reply)", reply: reply)
            return sendQuit()
        }
        if t.mail == .accepted {
            // MAIL was accepted but the transaction did not complete: reset it.
            send(.rset, timeout: configuration.timeouts.command)
            phase = .rset
        } else {
            startNextMessage()
        }
    }

    func failure(_ message: OutgoingMessage, _ what: String, _ reply: SMTPReply) -> MessageOutcome {
        MessageOutcome(messageID: message.id, status: Self.status(of: reply), reason: "\(what): \(reply)", reply: reply)
    }

    mutating func refuseBody(_ index: Int) {
        decide(MessageOutcome(messageID: messages[index].id, status: .permanentFailure,
                              reason: "the message holds a bare CR or LF (RFC 5321 §2.3.8)"))
        startNextMessage()
    }

    /// The BDAT commands with their chunks (`bdatChunkSize` octets each, the last one `LAST`),
    /// and the reply each expects.
    func bdatChunks(_ body: [UInt8]) -> [(wire: [UInt8], expect: Expect)] {
        let size = max(1, configuration.bdatChunkSize ?? max(1, body.count))
        var chunks: [(wire: [UInt8], expect: Expect)] = []
        var start = 0
        repeat {
            let end = min(body.count, start + size)
            let last = end == body.count
            chunks.append((((try? SMTPCommand.bdat(size: UInt64(end - start), last: last).wire()) ?? []) + body[start..<end], last ? .bdat : .bdatChunk))
            start = end
        } while start < body.count
        return chunks
    }

    /// The BDAT payload: the message with a final CRLF, bare line endings handled as configured
    /// (`LineEndings`, as DATA does); nil when the policy refuses them.
    func chunkBody(_ message: OutgoingMessage) -> [UInt8]? {
        try? LineEndings.canonical(message.body, policy: configuration.has(.emitsBareLF) ? .passThrough : configuration.lineEndings)
    }
}
