import Foundation
import Simulation
import Yams

/// Writes a scenario back as YAML: the original file with its faults, attacker, seed and message
/// lists replaced (used for the minimal reproducers that `smtpsim sweep` produces).
public enum ScenarioWriter {
    public static func minimal(
        originalText: String, name: String, seed: UInt64, faults: [FaultRule], attacker: [AttackAction], messagesPerClient: [Int]
    ) throws -> String {
        guard var root = try Yams.compose(yaml: originalText)?.mapping else { throw ScenarioError(file: "", keyPath: "", message: "not a scenario") }
        root["name"] = Node(name)
        root["seed"] = Node(String(seed))
        root["sweep"] = nil
        root["faults"] = faults.isEmpty ? nil : Node(faults.map(node))
        root["attacker"] = attacker.isEmpty ? nil : Node(attacker.map(node))
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

    static func duration(_ ns: Int64) -> String {
        for (unit, factor) in [("d", Int64(86_400_000_000_000)), ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
        where ns >= factor && ns % factor == 0 {
            return "\(ns / factor)\(unit)"
        }
        return "\(ns)ns"
    }

    static func map(_ pairs: [(String, Node)]) -> Node {
        .mapping(Node.Mapping(pairs.map { (Node($0.0), $0.1) }))
    }

    static func direction(_ d: Direction) -> Node { Node(d == .clientToServer ? "client-to-server" : "server-to-client") }

    static func trigger(_ t: Trigger) -> Node {
        switch t {
        case .phase(let p): Node(p.rawValue)
        case .connectionOpened: Node("connection-opened")
        case .tlsStarted: Node("tls-started")
        case .midBody: Node(ProtocolPhase.midBody.rawValue)
        case .finalReply: Node(ProtocolPhase.afterFinalReply.rawValue)
        case .atTime(let ns): map([("time", Node(duration(ns)))])
        case .handshakeBytes(let n): map([("handshake-bytes", Node(String(n)))])
        case .write(let side, let pattern, let cut, let epoch):
            map([(side == .client ? "client-writes" : "server-writes", Node(pattern)), ("cut", Node(cut.rawValue))]
                + (epoch.map { [("epoch", Node(String($0)))] } ?? []))
        }
    }

    static func node(_ rule: FaultRule) -> Node {
        var settings: [(String, Node)] = []
        let name: String
        switch rule.effect {
        case .latency(let lo, let hi):
            name = "latency"
            settings.append(("ms", Node([Node(String(lo / 1_000_000)), Node(String(hi / 1_000_000))])))
        case .split(let n): name = "split"; settings.append(("every", Node(String(n))))
        case .coalesce(let w): name = "coalesce"; settings.append(("window", Node(duration(w))))
        case .stall(let d): name = "stall"; settings.append(("for", Node(duration(d))))
        case .reset: name = "reset"
        case .resetProbability(let r): name = "reset"; settings.append(("probability", Node(r.description)))
        case .halfClose(let d): name = "half-close"; settings.append(("direction", direction(d)))
        case .truncate(let d): name = "truncate"; settings.append(("direction", direction(d)))
        case .corrupt(let r): name = "corrupt"; settings.append(("probability", Node(r.description)))
        case .replaceReply(let text): name = "replace-reply"; settings.append(("with", Node(text)))
        case .failHandshake(let kind): name = "fail-handshake"; settings.append(("class", Node(kind)))
        case .async421: name = "async-421"
        case .refuseConnection: name = "refuse-connection"
        case .connectTimeout(let after): name = "connect-timeout"; settings.append(("after", Node(duration(after))))
        }
        if let at = rule.at { settings.append(("at", trigger(at))) }
        if let c = rule.connections { settings.append(("connections", Node(c.map { Node(String($0)) }))) }
        if let d = rule.direction { settings.append(("direction", direction(d))) }
        return map([(name, map(settings))])
    }

    static func node(_ action: AttackAction) -> Node {
        switch action {
        case .stripStartTLS(let mode): map([("strip-starttls", map([("mode", Node(mode.rawValue))]))])
        case .replaceStartTLSReply(let text): map([("replace-starttls-reply", map([("with", Node(text))]))])
        case .injectToServer(let bytes, let same): map([("inject-to-server", map([("bytes", Node(bytes)), ("same-segment", Node(same ? "true" : "false"))]))])
        case .injectToClient(let bytes): map([("inject-to-client", map([("bytes", Node(bytes))]))])
        case .tamperCapabilities(let add, let remove):
            map([("tamper-capabilities", map([("add", Node(add.map { Node($0) })), ("remove", Node(remove.map { Node($0) }))]))])
        case .injectAuth(let user, let password): map([("inject-auth", map([("user", Node(user)), ("password", Node(password))]))])
        case .interceptTLS: Node("intercept-tls")
        }
    }
}
