import EndpointHosting
import Foundation
import Simulation
import Yams

/// Writes a scenario back as YAML: the original file with its faults, attacker, seed and message
/// lists replaced (used for the minimal reproducers that `smtpsim sweep` produces).
public enum ScenarioWriter {
    /// `tls`: the profile the sweep ran in when it was not the file's (`sweep --tls`).
    public static func minimal(
        originalText: String, name: String, seed: UInt64, faults: [FaultRule], attacker: [AttackAction], messagesPerClient: [Int], tls: String? = nil
    ) throws -> String {
        guard var root = try Yams.compose(yaml: originalText)?.mapping else { throw ScenarioError(file: "", keyPath: "", message: "not a scenario") }
        root["name"] = Node(name)
        if let tls { root["tls"] = Node(tls) }
        root["seed"] = Node(String(seed))
        root["sweep"] = nil
        root["faults"] = faults.isEmpty ? nil : Node(faults.map { node($0) })
        root["attacker"] = attacker.isEmpty ? nil : Node(attacker.map { node($0) })
        if var client = root["client"]?.mapping, let count = messagesPerClient.first {
            client["messages"] = client["messages"]?.sequence.map { Node(Array($0.prefix(count))) }
            root["client"] = .mapping(client)
        }
        if let clients = root["clients"]?.sequence {
            var kept: [Node] = []
            for (i, c) in clients.enumerated() where i < messagesPerClient.count {
                guard var m = c.mapping else { kept.append(c); continue }
                m["messages"] = m["messages"]?.sequence.map { Node(Array($0.prefix(messagesPerClient[i]))) }
                kept.append(.mapping(m))
            }
            root["clients"] = Node(kept)
        }
        let text = try Yams.serialize(node: .mapping(root))
        return text.hasSuffix("\n") ? text : text + "\n"
    }

    /// The YAML node of a scenario-file value.
    static func node(_ w: Written) -> Node {
        switch w {
        case .word(let word): Node(word)
        case .text(let text): Node(text, Tag(.str), .doubleQuoted)
        case .list(let items): Node(items.map(node))
        case .map(let entries): .mapping(Node.Mapping(entries.map { (Node($0.key), node($0.value)) }))
        }
    }

    static func node(_ value: some ScenarioWritable) -> Node { node(value.written) }
}

extension ScenarioWriter {
    /// A scenario whose client is a script (docs/scenario-format.md "Scripts"), against smtpsim's
    /// server with `server`'s keys: what `smtpsim learn --export` writes for each difference.
    /// `findings` are pinned by side, as the run that made the file saw them (nil: not judged).
    public static func scripted(
        name: String, description: String, tls: String, server: [Written.Entry], steps: [ScriptStep],
        findings: [Finding]?, traceContains: [String], traceLacks: [String]
    ) throws -> String {
        var root: Node.Mapping = [:]
        root["version"] = Node("1")
        root["name"] = Node(name)
        root["description"] = Node(description)
        root["tls"] = Node(tls)
        if !server.isEmpty { root["server"] = node(.map(server)) }
        root["client"] = .mapping(Node.Mapping([(Node("script"), Node(steps.map { node($0.written) }))]))
        var expect: Node.Mapping = [:]
        if let findings {
            func oracles(_ side: Side?) -> Node {
                var seen: [String] = []
                for f in findings where f.side == side && !seen.contains(f.oracle.rawValue) { seen.append(f.oracle.rawValue) }
                return Node(seen.map { Node($0) })
            }
            expect["findings"] = findings.isEmpty ? Node("none")
                : .mapping(Node.Mapping([(Node("client"), oracles(.client)), (Node("server"), oracles(.server)), (Node("run"), oracles(nil))]))
        }
        if !traceContains.isEmpty { expect["trace-contains"] = Node(traceContains.map { Node($0) }) }
        if !traceLacks.isEmpty { expect["trace-lacks"] = Node(traceLacks.map { Node($0) }) }
        root["expect"] = .mapping(expect)
        let text = try Yams.serialize(node: .mapping(root))
        return text.hasSuffix("\n") ? text : text + "\n"
    }
}
