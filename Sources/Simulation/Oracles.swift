import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

extension World {
    /// Online checks on each write (plaintext exposure, TLS boundary, state reset) and the
    /// session landmarks used by phase triggers. Byte-level: this runs on every write.
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?) {
        let host = c.host(side)
        switch side {
        case .server:
            if host.epoch == 0, bytes.starts(with: Self.multiline250), Self.find(bytes, Self.authKeyword), let caps = Self.firstEHLO(bytes),
                caps.authMechanisms.contains(where: { ["PLAIN", "LOGIN"].contains($0) })
            {
                flag(c, .plaintextExposure, "the server offers a plaintext password mechanism (AUTH \(caps.authMechanisms.joined(separator: " "))) before TLS",
                     "RFC 4954 §4 note; docs/catalog.md H6")
            }
            guard host.tlsEstablished else { return }
            if host.receivedInTLS == 0 {
                flag(c, .tlsBoundary, "the server wrote \(TraceEvent.preview(Array(bytes.prefix(40)), 0)) inside TLS before receiving anything inside TLS: it acted on bytes that arrived before the handshake",
                     "RFC 3207 §4.2; CVE-2011-0411")
            }
            if bytes.starts(with: Self.code235) || Self.find(bytes, Self.lineCode235) { c.serverSent235InTLS = true }
            if c.postTLSCapabilities == nil {
                c.serverTLSText += bytes
                if let caps = Self.firstEHLO(c.serverTLSText) {
                    c.postTLSCapabilities = caps
                    c.serverTLSText = []
                    if caps.startTLS { flag(c, .stateReset, "the server advertised STARTTLS again inside TLS", "RFC 3207 §4.2") }
                }
            }
        case .client:
            let commands = step?.commands ?? []
            if step?.wasData == true, Self.hasBareLineEnding(bytes) {
                flag(c, .transactionCount, "the client sent message data with a bare CR or LF: an SMTP-smuggling sequence can reach the next hop",
                     "RFC 5321 §2.3.8; docs/catalog.md G3")
            }
            let unprotected = host.epoch == 0 || (host.tlsEstablished && !host.peerVerified)
            if unprotected {
                let demands = clientPrograms.indices.contains(c.client) && clientPrograms[c.client].policy.demandsVerifiedTLS
                for line in commands {
                    let verb = String(decoding: line.prefix(4), as: UTF8.self).uppercased()
                    if verb == "AUTH", line.split(separator: 0x20).count > 2 || String(decoding: line, as: UTF8.self).uppercased().hasPrefix("AUTH LOGIN") {
                        flag(c, .plaintextExposure, "the client sent credentials \(host.epoch == 0 ? "in plaintext" : "to an unverified TLS peer")",
                             "RFC 4954 §4 note, §15; docs/catalog.md H6")
                    }
                    if demands, ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"].contains(verb) {
                        flag(c, .plaintextExposure,
                             "\(verb) sent \(host.epoch == 0 ? "in plaintext" : "over TLS with an unverified certificate") under a policy that requires verified TLS",
                             "RFC 3207 §6; RFC 8461 §5; docs/catalog.md B1/C1")
                    }
                }
            }
            guard host.tlsEstablished else { return }
            if host.receivedInTLS == 0 && host.writesInTLS >= 1 {
                flag(c, .tlsBoundary, "the client sent a second command inside TLS before receiving anything inside TLS: it acted on replies from before the handshake",
                     "RFC 3207 §4.2; docs/catalog.md D3 (response injection)")
            }
            host.writesInTLS += 1
            if let caps = c.postTLSCapabilities {
                for line in commands where line.count > 5 && String(decoding: line.prefix(5), as: UTF8.self).uppercased() == "AUTH " {
                    let mechanism = line.dropFirst(5).split(separator: 0x20).first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
                    if !caps.authMechanisms.contains(mechanism) {
                        flag(c, .stateReset, "the client used AUTH \(mechanism), which the server did not offer inside TLS", "RFC 3207 §4.2; docs/catalog.md D4")
                    }
                }
            }
        }
    }

    static let code235 = Array("235".utf8), lineCode235 = Array("\r\n235".utf8)
    static let multiline250 = Array("250-".utf8), authKeyword = Array("AUTH".utf8)

    /// Index just past the first occurrence of `needle`.
    static func end(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return i + needle.count }
            i += 1
        }
        return nil
    }

    static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool { end(of: needle, in: haystack) != nil }

    static func hasBareLineEnding(_ bytes: [UInt8]) -> Bool {
        for i in bytes.indices {
            if bytes[i] == 0x0A, i == 0 || bytes[i - 1] != 0x0D { return true }
            if bytes[i] == 0x0D, i + 1 < bytes.count, bytes[i + 1] != 0x0A { return true }
        }
        return false
    }

    /// The first multiline 250 reply in a server stream, as capabilities.
    static func firstEHLO(_ stream: [UInt8]) -> EHLOCapabilities? {
        var parser = ReplyParser()
        parser.append(stream)
        while let reply = try? parser.next() {
            if reply.code.value == 250, reply.lines.count > 1 { return try? EHLOCapabilities(reply: reply) }
        }
        return nil
    }

    func flag(_ c: Connection, _ oracle: Oracle, _ explanation: String, _ reference: String) {
        guard !c.reported.contains(oracle) else { return }
        c.reported.append(oracle)
        report(Finding(oracle: oracle, eventIndex: max(0, trace.events.count - 1), explanation: "connection \(c.id): \(explanation)", reference: reference))
    }

    /// End-of-run oracles, outcomes, the result.
    func finish() -> RunResult {
        checkReplyGrammar()
        let accepted = serverProgram.accepted
        var outcomes: [MessageOutcome] = []
        for (index, program) in clientPrograms.enumerated() {
            let results = program.outcomes
            for message in program.intendedMessages {
                if let o = results[message.id] {
                    outcomes.append(o)
                    record(0, .outcome(message: message.id, status: o.status.rawValue, detail: o.reason + (o.tlsResultType.map { " [\($0.rawValue)]" } ?? "")))
                } else if !program.outcomes.isEmpty || program is BuiltInClientProgram {
                    report(Finding(oracle: .liveness, eventIndex: trace.events.count, explanation: "client \(index): message \(message.id) has no outcome", reference: "docs/design.md rule 8"))
                }
            }
        }
        if budgetExhausted || deadlinePassed || !clientDone.allSatisfy({ $0 }) {
            let why = budgetExhausted ? "the event budget (\(configuration.eventBudget)) ran out before every session ended"
                : deadlinePassed ? "a session was still running when the liveness window closed (\(TraceEvent.formatTime(configuration.faultWindow + configuration.livenessWindow)))"
                : "a session never ended"
            report(Finding(oracle: .liveness, eventIndex: trace.events.count,
                           explanation: why,
                           reference: "RFC 5321 §4.5.3.2; docs/catalog.md C5"))
        }
        checkTransactions(accepted: accepted, outcomes: outcomes)
        checkAuthenticationReset(accepted)
        return RunResult(
            seed: configuration.seed, trace: trace, findings: findings, outcomes: outcomes, accepted: accepted,
            events: processedEvents, duration: now, connections: connections.count, keyLogLines: keyLogLines)
    }

    /// A message accepted inside TLS as an AUTH identity needs an AUTH that succeeded inside TLS:
    /// anything else is knowledge kept from plaintext (session fixation, docs/catalog.md D5). Messages are
    /// tied to connections by their queue ID (`C<connection>.<n>`).
    private func checkAuthenticationReset(_ accepted: [AcceptedMessage]) {
        for message in accepted where message.overTLS && message.authenticatedAs != nil {
            guard message.queueID.hasPrefix("C"), let id = Int(message.queueID.dropFirst().prefix { $0 != "." }),
                connections.indices.contains(id - 1)
            else { continue }
            let c = connections[id - 1]
            if !c.serverSent235InTLS {
                flag(c, .stateReset, "message \(message.queueID) was accepted inside TLS as \(message.authenticatedAs!), but nobody authenticated inside TLS: the server kept AUTH from plaintext",
                     "RFC 3207 §4.2; docs/catalog.md D5")
            }
        }
    }

    /// Every server reply stream must parse under RFC 5321 §4.2 (one pass over the trace).
    private func checkReplyGrammar() {
        var streams = Array(repeating: ([UInt8](), [UInt8]()), count: connections.count + 1)
        for e in trace.events where e.connection > 0 {
            if case .plaintext(.serverToClient, let epoch, let bytes) = e.kind {
                if epoch == 0 { streams[e.connection].0 += bytes } else { streams[e.connection].1 += bytes }
            }
        }
        for c in connections {
            for stream in [streams[c.id].0, streams[c.id].1] where !stream.isEmpty {
                var parser = ReplyParser()
                parser.append(stream)
                while true {
                    do {
                        guard try parser.next() != nil else { break }
                    } catch {
                        flag(c, .replyGrammar, "the server sent a reply that breaks the grammar: \(error)", "RFC 5321 §4.2, §4.2.1")
                        break
                    }
                }
            }
        }
    }

    /// The server accepts exactly what the honest clients sent, byte for byte; outcomes agree.
    private func checkTransactions(accepted: [AcceptedMessage], outcomes: [MessageOutcome]) {
        let intended = clientPrograms.flatMap(\.intendedMessages)
        guard !intended.isEmpty else { return }
        var acceptedCount: [String: Int] = [:]  // lookups only; never iterated
        // Intended messages by sender and expected body, in client order (lookups only).
        var index: [String: [Int]] = [:]
        var cursor: [String: Int] = [:]
        let expectedBodies = intended.map { Self.expectedBody($0.body) }
        var intendedIndex: [String: Int] = [:]  // message id → index in `intended`; lookups only
        for (i, m) in intended.enumerated() {
            index[Self.key(m.reversePath, expectedBodies[i]), default: []].append(i)
            intendedIndex[m.id] = i
        }
        for message in accepted {
            // Same sender and body, recipients among the intended ones; clients may send identical
            // messages, so take the first not matched yet, else the least matched.
            let key = Self.key(message.reversePath, message.body)
            let list = index[key] ?? []
            // Skip the candidates already matched (amortised: identical messages stay linear).
            var position = cursor[key] ?? 0
            while position < list.count, acceptedCount[intended[list[position]].id] != nil { position += 1 }
            cursor[key] = position
            var match: OutgoingMessage?
            for i in list[position...] where acceptedCount[intended[i].id] == nil && Self.sameEnvelope(intended[i], message) {
                match = intended[i]
                break
            }
            if match == nil {
                // Every candidate was matched already: a duplicate of the least matched one.
                match = list.map { intended[$0] }.filter { Self.sameEnvelope($0, message) }
                    .min { (acceptedCount[$0.id] ?? 0) < (acceptedCount[$1.id] ?? 0) }
            }
            if match == nil {
                // Same envelope, other body: a round-trip failure rather than a stranger.
                match = intended.first { Self.sameEnvelope($0, message) }
            }
            guard let match else {
                report(Finding(oracle: .transactionCount, eventIndex: trace.events.count,
                               explanation: "the server accepted a message no client sent: from \(message.reversePath) to \(message.recipients.map(\.description).joined(separator: ", ")) (\(message.queueID))",
                               reference: "docs/catalog.md G2; CVE-2023-51764"))
                continue
            }
            acceptedCount[match.id, default: 0] += 1
            let expected = intendedIndex[match.id].map { expectedBodies[$0] } ?? Self.expectedBody(match.body)
            if message.body != expected {
                report(Finding(oracle: .roundTrip, eventIndex: trace.events.count,
                               explanation: "message \(match.id) arrived as \(message.body.count) octets that differ from the \(expected.count) sent",
                               reference: "RFC 5321 §4.5.2"))
            }
        }
        var outcomeByID: [String: MessageOutcome] = [:]  // lookups only
        for o in outcomes { outcomeByID[o.messageID] = o }
        for message in intended {
            let count = acceptedCount[message.id] ?? 0
            let outcome = outcomeByID[message.id]
            let duplicateExplained = outcome.map { $0.possibleDuplicate || $0.attempt > 1 } ?? false
            if count > 1 && !duplicateExplained {
                report(Finding(oracle: .transactionCount, eventIndex: trace.events.count,
                               explanation: "message \(message.id) was accepted \(count) times", reference: "RFC 5321 §4.5.3.2.6"))
            }
            guard let o = outcome else { continue }
            switch o.status {
            case .delivered where count == 0:
                report(Finding(oracle: .outcomeClassification, eventIndex: trace.events.count,
                               explanation: "message \(message.id) counted as delivered but the server never accepted it", reference: "RFC 5321 §4.2.5"))
            case .permanentFailure where count > 0:
                report(Finding(oracle: .outcomeClassification, eventIndex: trace.events.count,
                               explanation: "message \(message.id) counted as refused but the server accepted it", reference: "RFC 5321 §4.2.5"))
            case .temporaryFailure where count > 0 && !o.possibleDuplicate:
                report(Finding(oracle: .outcomeClassification, eventIndex: trace.events.count,
                               explanation: "message \(message.id) counted as deferred but the server accepted it (a retry would duplicate it)", reference: "RFC 5321 §4.2.5"))
            case .delivered, .permanentFailure, .temporaryFailure:
                break
            }
        }
    }

    static func key(_ path: ReversePath, _ body: [UInt8]) -> String {
        "\(path)|\(body.count)|" + String(decoding: body.prefix(256), as: UTF8.self)
    }

    static func sameEnvelope(_ m: OutgoingMessage, _ a: AcceptedMessage) -> Bool {
        m.reversePath == a.reversePath && !a.recipients.isEmpty && a.recipients.allSatisfy { m.recipients.contains($0) }
    }

    /// What a compliant client delivers for `body`: bare CR/LF made CRLF, CRLF at the end.
    static func expectedBody(_ body: [UInt8]) -> [UInt8] {
        (try? LineEndings.canonical(body, policy: .normalize)) ?? body  // .normalize never throws
    }
}
