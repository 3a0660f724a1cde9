import SMTPClient
import SMTPCore
import SMTPServer

/// How a run ended, and the exit code it maps to (DESIGN.md rule 8).
public struct RunResult: Sendable {
    public var seed: UInt64
    public var trace: Trace
    public var findings: [Finding]
    /// Final outcome per intended message, in client order.
    public var outcomes: [MessageOutcome]
    /// Messages the server accepted.
    public var accepted: [AcceptedMessage]
    public var events: Int
    /// Simulated nanoseconds when the run ended.
    public var duration: Int64
    public var connections: Int
    public var keyLogLines: [String]

    public var digest: String { trace.digest }
    public var passed: Bool { findings.isEmpty }

    public enum Verdict: String, Sendable {
        case delivered, temporaryFailure = "temporary-failure", permanentFailure = "permanent-failure", findings
    }

    /// Exit codes: 0 every message delivered and no finding; 3 some message deferred; 4 some
    /// message refused for good; 1 an oracle found something (whatever the messages did).
    public var exitCode: Int32 {
        if !findings.isEmpty { return 1 }
        if outcomes.contains(where: { $0.status == .permanentFailure }) { return 4 }
        if outcomes.contains(where: { $0.status == .temporaryFailure }) { return 3 }
        return 0
    }
}

extension World {
    /// Online checks on each write (plaintext exposure, TLS boundary, state reset) and the
    /// session landmarks used by phase triggers.
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8]) {
        let host = c.host(side)
        let text = String(decoding: bytes, as: UTF8.self)
        switch side {
        case .server:
            if bytes.starts(with: Array("354".utf8)) || text.contains("\r\n354 ") { c.saw354 = true }
            if host.tls == nil, let caps = Self.firstEHLO(bytes), caps.authMechanisms.contains(where: { ["PLAIN", "LOGIN"].contains($0) }) {
                flag(c, .plaintextExposure, "the server offers a plaintext password mechanism (AUTH \(caps.authMechanisms.joined(separator: " "))) before TLS",
                     "RFC 4954 §4 note; CATALOG H6")
            }
            if host.tlsEstablished {
                if host.receivedInTLS == 0 {
                    flag(c, .tlsBoundary, "the server wrote \(TraceEvent.preview(Array(bytes.prefix(40)), 0)) inside TLS before receiving anything inside TLS: it acted on bytes that arrived before the handshake",
                         "RFC 3207 §4.2; CVE-2011-0411")
                }
                c.serverTLSText += bytes
                if text.hasPrefix("235") || text.contains("\r\n235") { c.serverSent235InTLS = true }
                if let caps = Self.firstEHLO(c.serverTLSText), caps.startTLS {
                    flag(c, .stateReset, "the server advertised STARTTLS again inside TLS", "RFC 3207 §4.2")
                }
            }
        case .client:
            if c.saw354, !c.sawFinalDot, Self.hasBareLineEnding(bytes) {
                flag(c, .transactionCount, "the client sent message data with a bare CR or LF: an SMTP-smuggling sequence can reach the next hop",
                     "RFC 5321 §2.3.8; CATALOG G3")
            }
            if c.saw354, text.contains("\r\n.\r\n") || text == ".\r\n" { c.sawFinalDot = true }
            if host.tls == nil || (host.tlsEstablished && !host.peerVerified),
                text.split(separator: "\r\n").contains(where: { $0.uppercased().hasPrefix("AUTH ") && $0.split(separator: " ").count > 2 || $0.uppercased().hasPrefix("AUTH LOGIN") })
            {
                flag(c, .plaintextExposure, "the client sent credentials \(host.tls == nil ? "in plaintext" : "to an unverified TLS peer")",
                     "RFC 4954 §4 note, §15; CATALOG H6")
            }
            let demands = clientPrograms.indices.contains(c.client) && clientPrograms[c.client].policy.demandsVerifiedTLS
            let unprotected = host.tls == nil || (host.tlsEstablished && !host.peerVerified)
            if demands, unprotected {
                for line in text.split(separator: "\r\n") {
                    let verb = line.prefix(4).uppercased()
                    if ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"].contains(verb) {
                        flag(c, .plaintextExposure,
                             "\(verb) sent \(host.tls == nil ? "in plaintext" : "over TLS with an unverified certificate") under a policy that requires verified TLS",
                             "RFC 3207 §6; RFC 8461 §5; CATALOG B1/C1")
                        break
                    }
                }
            }
            if host.tlsEstablished {
                if host.receivedInTLS == 0 && host.writesInTLS >= 1 {
                    flag(c, .tlsBoundary, "the client sent a second command inside TLS before receiving anything inside TLS: it acted on replies from before the handshake",
                         "RFC 3207 §4.2; CATALOG D3 (response injection)")
                }
                host.writesInTLS += 1
                c.clientTLSText += bytes
                if let caps = Self.firstEHLO(c.serverTLSText) {
                    for line in text.split(separator: "\r\n") where line.uppercased().hasPrefix("AUTH ") {
                        let mechanism = line.dropFirst(5).split(separator: " ").first.map { String($0).uppercased() } ?? ""
                        if !caps.authMechanisms.contains(mechanism) {
                            flag(c, .stateReset, "the client used AUTH \(mechanism), which the server did not offer inside TLS", "RFC 3207 §4.2; CATALOG D4")
                        }
                    }
                }
            }
        }
    }

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
                    record(0, .outcome(message: message.id, status: o.status.rawValue, detail: o.reason + (o.tlsResultType.map { " [\($0)]" } ?? "")))
                } else if !program.outcomes.isEmpty || program is BuiltInClientProgram {
                    report(Finding(oracle: .liveness, eventIndex: trace.events.count, explanation: "client \(index): message \(message.id) has no outcome", reference: "DESIGN.md rule 8"))
                }
            }
        }
        if budgetExhausted || deadlinePassed || !clientDone.allSatisfy({ $0 }) {
            let why = budgetExhausted ? "the event budget (\(configuration.eventBudget)) ran out before every session ended"
                : deadlinePassed ? "a session was still running when the liveness window closed (\(TraceEvent.formatTime(configuration.faultWindow + configuration.livenessWindow)))"
                : "a session never ended"
            report(Finding(oracle: .liveness, eventIndex: trace.events.count,
                           explanation: why,
                           reference: "RFC 5321 §4.5.3.2; CATALOG C5"))
        }
        checkTransactions(accepted: accepted, outcomes: outcomes)
        checkAuthenticationReset(accepted)
        return RunResult(
            seed: configuration.seed, trace: trace, findings: findings, outcomes: outcomes, accepted: accepted,
            events: processedEvents, duration: now, connections: connections.count, keyLogLines: keyLogLines)
    }

    /// A message accepted inside TLS as an AUTH identity needs an AUTH that succeeded inside TLS:
    /// anything else is knowledge kept from plaintext (session fixation, CATALOG D5). Messages are
    /// tied to connections by their queue ID (`C<connection>.<n>`).
    private func checkAuthenticationReset(_ accepted: [AcceptedMessage]) {
        for message in accepted where message.overTLS && message.authenticatedAs != nil {
            guard message.queueID.hasPrefix("C"), let id = Int(message.queueID.dropFirst().prefix { $0 != "." }),
                connections.indices.contains(id - 1)
            else { continue }
            let c = connections[id - 1]
            if !c.serverSent235InTLS {
                flag(c, .stateReset, "message \(message.queueID) was accepted inside TLS as \(message.authenticatedAs!), but nobody authenticated inside TLS: the server kept AUTH from plaintext",
                     "RFC 3207 §4.2; CATALOG D5")
            }
        }
    }

    /// Every server reply stream must parse under RFC 5321 §4.2.
    private func checkReplyGrammar() {
        for c in connections {
            var plain: [UInt8] = []
            var inTLS: [UInt8] = []
            for e in trace.events where e.connection == c.id {
                if case .plaintext(.serverToClient, let epoch, let bytes) = e.kind {
                    if epoch == 0 { plain += bytes } else { inTLS += bytes }
                }
            }
            for stream in [plain, inTLS] where !stream.isEmpty {
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
        var acceptedCount: [String: Int] = [:]  // counts only; iteration order never used
        for message in accepted {
            // Same envelope, preferring the same body, then the intended message matched least so
            // far (clients may send identical messages).
            let candidates = intended.filter { Self.sameEnvelope($0, message) }
            let sameBody = candidates.filter { Self.expectedBody($0.body) == message.body }
            let pool = sameBody.isEmpty ? candidates : sameBody
            let match = pool.min { (acceptedCount[$0.id] ?? 0) < (acceptedCount[$1.id] ?? 0) }
            guard let match else {
                report(Finding(oracle: .transactionCount, eventIndex: trace.events.count,
                               explanation: "the server accepted a message no client sent: from \(message.reversePath) to \(message.recipients.map(\.description).joined(separator: ", ")) (\(message.queueID))",
                               reference: "CATALOG G2; CVE-2023-51764"))
                continue
            }
            acceptedCount[match.id, default: 0] += 1
            let expected = Self.expectedBody(match.body)
            if message.body != expected {
                report(Finding(oracle: .roundTrip, eventIndex: trace.events.count,
                               explanation: "message \(match.id) arrived as \(message.body.count) octets that differ from the \(expected.count) sent",
                               reference: "RFC 5321 §4.5.2"))
            }
        }
        for message in intended {
            let count = acceptedCount[message.id] ?? 0
            let outcome = outcomes.first { $0.messageID == message.id }
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

    static func sameEnvelope(_ m: OutgoingMessage, _ a: AcceptedMessage) -> Bool {
        m.reversePath == a.reversePath && !a.recipients.isEmpty && a.recipients.allSatisfy { m.recipients.contains($0) }
    }

    /// What a compliant client delivers for `body`: bare CR/LF made CRLF, CRLF at the end.
    static func expectedBody(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < body.count {
            let b = body[i]
            if b == 0x0D, i + 1 < body.count, body[i + 1] == 0x0A {
                out += [0x0D, 0x0A]
                i += 2
            } else if b == 0x0D || b == 0x0A {
                out += [0x0D, 0x0A]
                i += 1
            } else {
                out.append(b)
                i += 1
            }
        }
        if !out.isEmpty, !(out.count >= 2 && out[out.count - 2] == 0x0D && out[out.count - 1] == 0x0A) { out += [0x0D, 0x0A] }
        return out
    }
}
