import SMTPCore

/// A rule over smtpsim's client (docs/scenario-format.md "client.rules"): at a reply (by code
/// prefix, by pattern, by what it answers), the nth time, inside or outside TLS, with a seeded
/// probability, the client sends octets of the rule's (after its own answer, or instead of it)
/// and may close at once. Servers are tested this way without a linear script.
public struct ClientRule: Hashable, Sendable {
    /// What a reply answers, as rules name it.
    public enum Answering: String, Hashable, Sendable, CaseIterable {
        case greeting
        case ehlo = "EHLO", helo = "HELO", startTLS = "STARTTLS", auth = "AUTH"
        case mail = "MAIL", rcpt = "RCPT", data = "DATA", bdat = "BDAT"
        /// The reply to the final dot or to BDAT … LAST.
        case endOfData = "end-of-data"
        case rset = "RSET", quit = "QUIT"
    }

    /// The reply's code starts with this ("250", "5", "354"); nil: any code.
    public var code: String?
    /// Some line of the reply (`250-PIPELINING`) matches.
    public var pattern: TextPattern?
    /// The reply answers this; nil: anything.
    public var answering: Answering?
    public var condition: RuleCondition
    /// Octets to send (after the client's own answer, or instead of it).
    public var send: [UInt8]
    /// Drop what the client itself would have sent in answer to this reply.
    public var instead: Bool
    /// Close the connection at once (with `instead`, without the client's QUIT).
    public var close: Bool

    public init(code: String? = nil, pattern: TextPattern? = nil, answering: Answering? = nil, condition: RuleCondition = RuleCondition(),
                send: [UInt8] = [], instead: Bool = false, close: Bool = false) {
        self.code = code
        self.pattern = pattern
        self.answering = answering
        self.condition = condition
        self.send = send
        self.instead = instead
        self.close = close
    }

    func covers(_ reply: SMTPReply, answering what: Answering?) -> Bool {
        if let answering, answering != what { return false }
        if let code, !String(reply.code.value).hasPrefix(code) { return false }
        guard let pattern else { return true }
        // Each line as the wire carries it (code, separator, enhanced code, text), CRLF cut.
        return reply.wire.split(separator: 0x0A).contains { pattern.matches($0.dropLast()) }
    }
}

extension SMTPClientConnection {
    /// What the reply about to be handled answers.
    var answering: ClientRule.Answering? {
        switch phase {
        case .greeting: .greeting
        case .ehlo: .ehlo
        case .helo: .helo
        case .startTLS: .startTLS
        case .auth: .auth
        case .transaction(let t):
            switch t.expected.first {
            case .mail?: .mail
            case .rcpt?: .rcpt
            case .data?: .data
            case .bdatChunk?: .bdat
            case .bdat?: .endOfData
            case nil: nil
            }
        case .dataEnd: .endOfData
        case .rset: .rset
        case .quit: .quit
        case .notStarted, .handshake, .closed: nil
        }
    }

    /// The first rule that fires at `reply`; every rule that covers it counts the match.
    mutating func firingRule(_ reply: SMTPReply, answering what: ClientRule.Answering?) -> (index: Int, rule: ClientRule)? {
        let rules = configuration.rules
        guard !rules.isEmpty else { return nil }
        if ruleCounts.isEmpty { ruleCounts = Array(repeating: 0, count: rules.count) }
        var fired: Int?
        for (i, rule) in rules.enumerated() where rule.covers(reply, answering: what) {
            if let tls = rule.condition.tls, tls != session.inTLS { continue }
            ruleCounts[i] += 1
            if fired == nil, rule.condition.fires(count: ruleCounts[i], inTLS: session.inTLS, seed: configuration.ruleSeed, connection: "\(attempt)", rule: i) {
                fired = i
            }
        }
        return fired.map { ($0, rules[$0]) }
    }

    /// Carries out `rule` after the client handled the reply (its own actions from `start`).
    mutating func apply(_ rule: ClientRule, ownActionsFrom start: Int) {
        if rule.instead {
            actions = actions[..<start] + actions[start...].filter { if case .send = $0 { false } else { true } }
        }
        if !rule.send.isEmpty { emit(.send(rule.send)) }
        if rule.close, !isClosed { closeNow() }
    }
}
