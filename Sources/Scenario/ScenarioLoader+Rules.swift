import SMTPClient
import SMTPCore
import SMTPServer

/// `server.rules` and `client.rules` (docs/scenario-format.md "Rules").
extension ScenarioLoader {
    static let conditionKeys = ["nth", "tls", "probability"]

    static func readCondition(_ o: YAMLObject) throws(ScenarioError) -> RuleCondition {
        var c = RuleCondition()
        if let n = o["nth"] { c.nth = try n.int(in: 1...1_000_000) }
        if let t = o["tls"] { c.tls = try t.bool() }
        if let p = o["probability"] { c.probability = try readRatio(p) }
        return c
    }

    /// The verbs a server rule names (any other word of letters is allowed too: an extension's).
    static let ruleVerbs = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH"]

    /// Extension verbs of the SMTP registry a rule may name as they are: ETRN (RFC 1985), ATRN
    /// (RFC 2645), TURN (RFC 821 §4.1.1).
    static let registeredExtensionVerbs = ["ETRN", "ATRN", "TURN"]

    /// `greeting`, `end-of-data`, `any`, a verb smtpsim knows (any case), a registered extension
    /// verb, a local extension's verb (RFC 5321 §2.2.2: it starts with X, written in capitals:
    /// `XCLIENT`), or any other extension verb declared as one: `{extension: FOO}`. Anything else,
    /// a misspelt `RCTP` among them, is an error with the closest verb, not a rule that never fires.
    static func readTrigger(_ r: YAMLReader) throws(ScenarioError) -> ServerRule.Trigger {
        if r.node.mapping != nil {
            let o = try r.object(["extension"])
            let verb = try o.required("extension").string()
            guard !verb.isEmpty, verb.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }) else {
                throw r.error("an extension verb is written in capitals (RFC 5321 §2.2.2: a keyword of letters, digits and '-'), got '\(verb)'")
            }
            return .verb(verb)
        }
        let word = try r.string()
        let names = ["greeting", "end-of-data", "any"]
        let verbs = ruleVerbs + registeredExtensionVerbs
        let localExtension = word.count > 1 && word.hasPrefix("X") && word.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || $0 == "-" }
        guard names.contains(word) || verbs.contains(word.uppercased()) || localExtension else {
            throw r.error("unknown trigger '\(word)'; expected a verb (\(verbs.joined(separator: ", "))), a local extension's (X…, in capitals), {extension: VERB} for another extension, greeting, end-of-data or any",
                          suggestion: closest(word, among: names) ?? closest(word.uppercased(), among: verbs))
        }
        return ServerRule.Trigger.named(word)
    }

    static func readServerRule(_ r: YAMLReader) throws(ScenarioError) -> ServerRule {
        let o = try r.object(["at", "pattern", "in-transaction", "connections", "reply", "silent", "act", "close"] + conditionKeys)
        let trigger = try o["at"].map { x throws(ScenarioError) in try readTrigger(x) } ?? .anyCommand
        let pattern = try o["pattern"].map { x throws(ScenarioError) in TextPattern(try x.string()) }
        if pattern != nil, trigger == .greeting || trigger == .endOfData {
            throw o["pattern"]!.error("a pattern matches command lines; the \(trigger) has none")
        }
        let silent = try o["silent"]?.bool() ?? false
        guard o.has("reply") != silent else {
            throw r.error(silent ? "give either 'reply' or 'silent: true', not both" : "a rule needs a 'reply' (text or a list of lines) or 'silent: true'")
        }
        let reply = try o["reply"].map { x throws(ScenarioError) in try readRuleReply(x) }
        let connections = try o["connections"]?.listOrOne().map { x throws(ScenarioError) in "C\(try x.int(in: 1...1_000_000))" }
        return ServerRule(on: trigger, pattern: pattern, condition: try readCondition(o), inTransaction: try o["in-transaction"]?.bool(),
                          connections: connections, reply: reply, act: try o["act"]?.bool(), close: try o["close"]?.bool() ?? false)
    }

    /// Text (lines joined by CRLF or LF) or a list of lines.
    static func readRuleReply(_ r: YAMLReader) throws(ScenarioError) -> RuleReply {
        let reply = r.isScalar ? RuleReply(text: try r.string()) : RuleReply(lines: try r.list().map { x throws(ScenarioError) in try x.string() })
        guard !reply.lines.isEmpty else { throw r.error("a reply has at least one line") }
        for line in reply.lines where line.contains("\r") || line.contains("\n") {
            throw r.error("a reply line holds a bare CR or LF: write lines as a list, or join them with \\r\\n")
        }
        return reply
    }

    static func readClientRule(_ r: YAMLReader) throws(ScenarioError) -> ClientRule {
        let o = try r.object(["code", "after", "pattern", "send", "instead", "close"] + conditionKeys)
        var rule = ClientRule(condition: try readCondition(o))
        if let c = o["code"] {
            let code = try c.string()
            guard (1...3).contains(code.count), code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else {
                throw c.error("expected a reply code or its first digits ('250', '5', '354'), found '\(code)'")
            }
            rule.code = code
        }
        if let a = o["after"] { rule.answering = try a.enumeration(ClientRule.Answering.self, ClientRule.Answering.allCases) }
        if let p = o["pattern"] { rule.pattern = TextPattern(try p.string()) }
        if let s = o["send"] { rule.send = Array(try s.string().utf8) }
        rule.instead = try o["instead"]?.bool() ?? false
        rule.close = try o["close"]?.bool() ?? false
        guard !rule.send.isEmpty || rule.instead || rule.close else { throw r.error("a client rule needs 'send', 'instead: true' or 'close: true'") }
        return rule
    }
}
