import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// The server accepts exactly the messages the honest clients sent (no smuggled message, no
/// duplicate a lost reply does not explain), each byte for byte (round trip, RFC 5321 §4.5.2),
/// and each message's outcome agrees with what the server did (outcome classification); the
/// client never sends a bare CR or LF in message data (docs/catalog.md G2, G3).
struct TransactionCountOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        guard side == .client, step?.wasData == true, LineEndings.hasBareLineEnding(bytes) else { return }
        world.flag(c, .transactionCount, .client, "the client sent message data with a bare CR or LF: an SMTP-smuggling sequence can reach the next hop",
                   "RFC 5321 §2.3.8; docs/catalog.md G3")
    }


    /// The server accepts exactly what the honest clients sent, byte for byte; outcomes agree.
    /// With a relay (docs/design.md "Relays") the chain is judged three times: the relay accepts
    /// what the clients sent, once each as their outcomes say; the server behind it accepts what
    /// the relay forwarded, as the relay's outcomes say; and end to end, the server behind the
    /// relay accepts only messages the clients sent (else `smuggling`), with their bytes, line
    /// endings aside (a relay may normalise them, RFC 5321 §2.3.8).
    func finish(outcomes: [MessageOutcome], accepted: [AcceptedMessage], in world: World) {
        let intended = world.clientPrograms.filter { $0 !== world.forwarder }.flatMap(\.intendedMessages)
        guard let forwarder = world.forwarder else {
            judge(Hop(intended: intended, accepted: accepted, outcomes: outcomes, receiver: "the server", checks: [.strangers, .roundTrip, .counts]), in: world)
            return
        }
        let relayed = world.hops[0].serverProgram.accepted
        judge(Hop(intended: intended, accepted: relayed, outcomes: outcomes, receiver: "the relay", lineEndingsAside: true, checks: [.strangers, .counts]), in: world)
        let forwardedOutcomes = forwarder.intendedMessages.compactMap { forwarder.outcomes[$0.id] }
        judge(Hop(intended: forwarder.intendedMessages, accepted: accepted, outcomes: forwardedOutcomes, receiver: "the server behind the relay",
                  lineEndingsAside: true, checks: [.counts]), in: world)
        judge(Hop(intended: intended, accepted: accepted, outcomes: [], receiver: "the server behind the relay", lineEndingsAside: true,
                  checks: [.strangers, .roundTrip], strangerOracle: .smuggling), in: world)
    }

    /// One comparison of what was meant with what was accepted.
    struct Hop {
        var intended: [OutgoingMessage]
        var accepted: [AcceptedMessage]
        var outcomes: [MessageOutcome]
        /// Who accepted (the findings name it).
        var receiver: String
        /// Bodies compared with every bare CR or LF made CRLF.
        var lineEndingsAside = false
        var checks: Checks
        var strangerOracle = Oracle.transactionCount

        struct Checks: OptionSet {
            let rawValue: Int
            /// A message nobody sent.
            static let strangers = Checks(rawValue: 1)
            /// A body that changed.
            static let roundTrip = Checks(rawValue: 2)
            /// Duplicates and outcomes against what was accepted.
            static let counts = Checks(rawValue: 4)
        }
    }

    private func judge(_ hop: Hop, in world: World) {
        let intended = hop.intended
        let outcomes = hop.outcomes
        let receiver = hop.receiver
        guard !intended.isEmpty else { return }
        var acceptedCount: [String: Int] = [:]  // lookups only; never iterated
        // How often each (message, recipient) was accepted: a retry for a deferred recipient is
        // a second acceptance of the message, the first for that recipient (lookups only).
        var recipientCount: [RecipientKey: Int] = [:]
        // Messages whose end the receiver took in the clear after its TLS session ended: the
        // client did not finish them (the receiver's tls-teardown finding says so), so a client
        // that deferred them is right (lookups only).
        var endedAfterTLS: Set<RecipientKey> = []
        // Intended messages by sender and expected body, in client order (lookups only).
        var index: [MessageKey: [Int]] = [:]
        var cursor: [MessageKey: Int] = [:]
        let expectedBodies = intended.map { Self.expectedBody($0.body) }
        var intendedIndex: [String: Int] = [:]  // message id → index in `intended`; lookups only
        // Sized once: a run's tables are as large as its messages (growing them cost a rehash each time).
        index.reserveCapacity(intended.count)
        intendedIndex.reserveCapacity(intended.count)
        acceptedCount.reserveCapacity(intended.count)
        recipientCount.reserveCapacity(intended.count)
        for (i, m) in intended.enumerated() {
            index[MessageKey(m.reversePath, expectedBodies[i]), default: []].append(i)
            intendedIndex[m.id] = i
        }
        var outcomeByID: [String: MessageOutcome] = [:]  // lookups only
        outcomeByID.reserveCapacity(outcomes.count)
        for o in outcomes { outcomeByID[o.messageID] = o }
        for message in hop.accepted {
            // Same sender and body, recipients among the intended ones; clients may send identical
            // messages, so take the first not matched yet, else the least matched.
            let body = hop.lineEndingsAside ? Self.expectedBody(message.body) : message.body
            let key = MessageKey(message.reversePath, body)
            let list = index[key] ?? []
            // Skip the candidates already matched (amortised: identical messages stay linear).
            var position = cursor[key] ?? 0
            while position < list.count, acceptedCount[intended[list[position]].id] != nil { position += 1 }
            cursor[key] = position
            // Among identical unmatched messages (a relay that accepted a client's retry twice
            // forwards two copies), the one whose sender's outcome best agrees with an
            // acceptance: the acceptance is that one's (found by the Simulation target once it
            // drew relays: matched in list order, a deferred copy took the delivered one's).
            var match: OutgoingMessage?
            var best = Int.max
            for i in list[position...] where acceptedCount[intended[i].id] == nil && Self.sameEnvelope(intended[i], message) {
                let rank = Self.agreement(outcomeByID[intended[i].id])
                if rank < best { (match, best) = (intended[i], rank) }
                if rank == 0 { break }
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
                guard hop.checks.contains(.strangers) else { continue }
                world.report(Finding(oracle: hop.strangerOracle, side: .server, eventIndex: world.trace.count,
                               explanation: "\(receiver) accepted a message no client sent: from \(message.reversePath) to \(message.recipients.map(\.description).joined(separator: ", ")) (\(message.queueID))",
                               reference: "docs/catalog.md G2; CVE-2023-51764"))
                continue
            }
            acceptedCount[match.id, default: 0] += 1
            for r in message.recipients {
                recipientCount[RecipientKey(id: match.id, recipient: r), default: 0] += 1
                if message.completedAfterTLSEnd { endedAfterTLS.insert(RecipientKey(id: match.id, recipient: r)) }
            }
            let expected = intendedIndex[match.id].map { expectedBodies[$0] } ?? Self.expectedBody(match.body)
            if hop.checks.contains(.roundTrip), !Octets.equal(body[...], expected[...]) {
                world.report(Finding(oracle: .roundTrip, eventIndex: world.trace.count,
                               explanation: "message \(match.id) arrived as \(message.body.count) octets that differ from the \(expected.count) sent\(hop.lineEndingsAside ? " (line endings aside)" : "")",
                               reference: "RFC 5321 §4.5.2"))
            }
        }
        guard hop.checks.contains(.counts) else { return }
        for message in intended {
            let outcome = outcomeByID[message.id]
            // Each recipient on its own (RFC 5321 §4.2.5): what the client says became of the
            // message for it, against how often the receiver accepted the message for it. A
            // client without per-recipient outcomes is judged on the message's. What holds for
            // every recipient alike is said once, of the message.
            var wrongs: [(ForwardPath, Wrong)] = []
            for r in Self.distinct(message.recipients) {
                let count = recipientCount[RecipientKey(id: message.id, recipient: r)] ?? 0
                let own = outcome?.recipients.first { $0.recipient == r }
                let possibleDuplicate = own?.possibleDuplicate ?? outcome?.possibleDuplicate ?? false
                let attempt = own?.attempt ?? outcome?.attempt ?? 1
                let explained = possibleDuplicate || attempt > 1 || (outcome.map { $0.possibleDuplicate || $0.attempt > 1 } ?? false)
                if count > 1 && !explained { wrongs.append((r, .acceptedTimes(count))) }
                switch own?.status ?? outcome?.status {
                case .delivered where count == 0: wrongs.append((r, .deliveredButNotAccepted))
                case .permanentFailure where count > 0 && !possibleDuplicate && !endedAfterTLS.contains(RecipientKey(id: message.id, recipient: r)):
                    wrongs.append((r, .refusedButAccepted))
                case .temporaryFailure where count > 0 && !possibleDuplicate && !endedAfterTLS.contains(RecipientKey(id: message.id, recipient: r)):
                    wrongs.append((r, .deferredButAccepted))
                case .delivered, .permanentFailure, .temporaryFailure, nil: break
                }
            }
            let all = Self.distinct(message.recipients).count
            var said: [Wrong] = []
            for (r, wrong) in wrongs where !said.contains(wrong) {
                let everyone = wrongs.filter { $0.1 == wrong }.count == all
                if everyone { said.append(wrong) }
                world.report(wrong.finding(message.id, everyone ? nil : r, receiver, at: world.trace.count))
            }
        }
    }

    /// What the receiver did that the client's outcome for a recipient contradicts.
    enum Wrong: Equatable {
        case acceptedTimes(Int)
        case deliveredButNotAccepted
        case refusedButAccepted
        case deferredButAccepted

        /// The finding, of the message (`recipient` nil: it holds for every recipient) or of one recipient.
        func finding(_ id: String, _ recipient: ForwardPath?, _ receiver: String, at index: Int) -> Finding {
            let to = recipient.map { " to \($0)" } ?? "", forR = recipient.map { " for \($0)" } ?? ""
            switch self {
            case .acceptedTimes(let n):
                return Finding(oracle: .transactionCount, eventIndex: index, explanation: "message \(id) was accepted \(n) times\(forR)", reference: "RFC 5321 §4.5.3.2.6")
            case .deliveredButNotAccepted:
                return Finding(oracle: .outcomeClassification, side: .client, eventIndex: index,
                               explanation: "message \(id) counted as delivered\(to) but \(receiver) never accepted it\(forR)", reference: "RFC 5321 §4.2.5")
            case .refusedButAccepted:
                return Finding(oracle: .outcomeClassification, side: .client, eventIndex: index,
                               explanation: "message \(id) counted as refused\(forR) but \(receiver) accepted it\(forR)", reference: "RFC 5321 §4.2.5")
            case .deferredButAccepted:
                return Finding(oracle: .outcomeClassification, side: .client, eventIndex: index,
                               explanation: "message \(id) counted as deferred\(forR) but \(receiver) accepted it\(forR) (a retry would duplicate it)", reference: "RFC 5321 §4.2.5")
            }
        }
    }

    /// How well an outcome agrees with the receiver having accepted the message, best first:
    /// delivered; a possible duplicate or no outcome; deferred; refused.
    static func agreement(_ outcome: MessageOutcome?) -> Int {
        switch outcome?.status {
        case .delivered: 0
        case nil: 1
        case .temporaryFailure: outcome!.possibleDuplicate ? 1 : 2
        case .permanentFailure: outcome!.possibleDuplicate ? 1 : 3
        }
    }

    /// One recipient of one intended message.
    struct RecipientKey: Hashable {
        let id: String
        let recipient: ForwardPath
    }

    /// Each recipient once, in order (a message may name one twice).
    static func distinct(_ recipients: [ForwardPath]) -> [ForwardPath] {
        var out: [ForwardPath] = []
        for r in recipients where !out.contains(r) { out.append(r) }
        return out
    }

    /// Messages that may be the same: sender, body length and the first 256 octets of the body.
    /// Hashed by a fingerprint of those octets (FNV-1a), compared whole.
    struct MessageKey: Hashable {
        let path: ReversePath
        let count: Int
        let prefix: ArraySlice<UInt8>
        let fingerprint: UInt64

        init(_ path: ReversePath, _ body: [UInt8]) {
            self.path = path
            count = body.count
            prefix = body.prefix(256)
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in prefix { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            fingerprint = h
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(count)
            hasher.combine(fingerprint)
        }

        static func == (a: MessageKey, b: MessageKey) -> Bool {
            a.count == b.count && a.fingerprint == b.fingerprint && Octets.equal(a.prefix, b.prefix) && a.path == b.path
        }
    }

    static func sameEnvelope(_ m: OutgoingMessage, _ a: AcceptedMessage) -> Bool {
        m.reversePath == a.reversePath && !a.recipients.isEmpty && a.recipients.allSatisfy { m.recipients.contains($0) }
    }

    /// What a compliant client delivers for `body`: bare CR/LF made CRLF, CRLF at the end.
    static func expectedBody(_ body: [UInt8]) -> [UInt8] {
        (try? LineEndings.canonical(body, policy: .normalize)) ?? body  // .normalize never throws
    }
}
