import SMTPCore

/// A rule over smtpsim's compliant server (docs/scenario-format.md "server.rules"): at a command
/// (a verb, a pattern, or any), at the greeting, or at the end of a message's data, the nth time,
/// inside or outside TLS and a transaction, with a seeded probability, the server answers as the
/// rule says instead of as itself. What no rule covers behaves as the compliant server.
public struct ServerRule: Hashable, Sendable {
    public enum Trigger: Hashable, Sendable, CustomStringConvertible {
        /// Every command line (not the greeting, not the end of data).
        case anyCommand
        /// A command line whose first word is this verb (upper case).
        case verb(String)
        /// The connection opens: the rule's reply is the greeting.
        case greeting
        /// The final dot of DATA, or the chunk of BDAT … LAST: the reply that decides the message.
        case endOfData

        /// `any`, `greeting`, `end-of-data`, or a verb (upper-cased).
        public static func named(_ name: String) -> Trigger {
            [Trigger.anyCommand, .greeting, .endOfData].first { $0.description == name } ?? .verb(name.uppercased())
        }

        public var description: String {
            switch self {
            case .anyCommand: "any"
            case .verb(let v): v
            case .greeting: "greeting"
            case .endOfData: "end-of-data"
            }
        }
    }

    public var on: Trigger
    /// Only command lines that match (the glob of `TextPattern`).
    public var pattern: TextPattern?
    public var condition: RuleCondition
    /// Only inside (true) or outside (false) a mail transaction; nil: either.
    public var inTransaction: Bool?
    /// Only on these connections, by the name the driver gives them (`C1`, `C2`, … in the
    /// simulator and in `serve`, in the order they open); nil: every connection.
    public var connections: [String]?
    /// The reply, or nil to say nothing.
    public var reply: RuleReply?
    /// Do what the compliant server does with the command (its reply replaced by the rule's), or
    /// only answer. nil: act when the reply is 2yz or 3yz (a 220 to STARTTLS starts TLS unless
    /// `act: false`; a 550 to RCPT refuses the recipient).
    public var act: Bool?
    /// Close the connection after the reply.
    public var close: Bool

    public init(on: Trigger, pattern: TextPattern? = nil, condition: RuleCondition = RuleCondition(), inTransaction: Bool? = nil,
                connections: [String]? = nil, reply: RuleReply?, act: Bool? = nil, close: Bool = false) {
        self.on = on
        self.pattern = pattern
        self.condition = condition
        self.inTransaction = inTransaction
        self.connections = connections
        self.reply = reply
        self.act = act
        self.close = close
    }

    /// Whether the compliant server also acts on the command.
    public var acts: Bool { act ?? reply?.isPositive ?? false }

    /// The rule is about this point of the session (before its condition and count).
    func covers(_ trigger: Trigger, line: ArraySlice<UInt8>?) -> Bool {
        switch (on, trigger) {
        case (.greeting, .greeting), (.endOfData, .endOfData): return pattern == nil
        case (.anyCommand, .anyCommand): break
        case (.verb(let verb), .anyCommand):
            guard let line else { return false }
            let word = line.prefix { $0 != 0x20 }
            guard word.count == verb.utf8.count, zip(word, verb.utf8).allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0) == $1 }) else { return false }
        // The points a rule is not about: another command's kind, or another point altogether.
        case (.anyCommand, .greeting), (.anyCommand, .endOfData), (.anyCommand, .verb),
             (.verb, .greeting), (.verb, .endOfData), (.verb, .verb),
             (.greeting, .anyCommand), (.greeting, .endOfData), (.greeting, .verb),
             (.endOfData, .anyCommand), (.endOfData, .greeting), (.endOfData, .verb):
            return false
        }
        return pattern.map { p in line.map { p.matches($0) } ?? false } ?? true
    }
}
