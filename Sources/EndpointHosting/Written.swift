/// A value as a scenario file writes it (docs/scenario-format.md): a word, a quoted text, a list,
/// or a mapping with its keys in order. Faults, triggers and attacker actions describe themselves
/// in it, so the trace, the HTML report, `smtpsim faults`, `replay` and the scenario writer all
/// print what a user would type, never Swift's debug form.
public indirect enum Written: Hashable, Sendable, CustomStringConvertible {
    /// A plain word or number, printed as it is (`after-final-dot`, `5s`, `1/20`).
    case word(String)
    /// Free text, printed quoted (`"RCPT TO:"`).
    case text(String)
    case list([Written])
    case map([Entry])

    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: Written
        public init(_ key: String, _ value: Written) {
            self.key = key
            self.value = value
        }
    }

    /// A one-key mapping whose value is a mapping of settings, or the bare name when there are
    /// none: `reset`, `{stall: {for: 10m, at: after-rcpt}}`.
    public static func named(_ name: String, _ settings: [Entry]) -> Written {
        settings.isEmpty ? .word(name) : .map([Entry(name, .map(settings))])
    }

    /// Flow-style YAML on one line.
    public var description: String {
        switch self {
        case .word(let w): w
        case .text(let t): Self.quoted(t)
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .map(let entries): "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += scalar.value <= 0xFF ? "\\x" + hex(scalar.value, 2) : "\\u" + hex(scalar.value, 4)
            }
        }
        return out + "\""
    }

    private static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Nanoseconds in the largest unit that divides them (`10m`, `250ms`, `7ns`), as the loader reads them.
    public static func duration(_ ns: Int64) -> Written {
        for (unit, factor) in [("d", Int64(86_400_000_000_000)), ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
        where ns >= factor && ns % factor == 0 {
            return .word("\(ns / factor)\(unit)")
        }
        return .word("\(ns)ns")
    }

    public static func number<N: BinaryInteger>(_ n: N) -> Written { .word(String(n)) }
}

/// A value that has a scenario-file form.
public protocol ScenarioWritable {
    var written: Written { get }
}

extension Direction: ScenarioWritable {
    public var written: Written { .word(self == .clientToServer ? "client-to-server" : "server-to-client") }
}

extension Trigger: ScenarioWritable {
    public var written: Written {
        switch self {
        case .phase(let p): .word(p.rawValue)
        case .connectionOpened: .word("connection-opened")
        case .tlsStarted: .word("tls-started")
        case .midBody: .word(ProtocolPhase.midBody.rawValue)
        case .finalReply: .word(ProtocolPhase.afterFinalReply.rawValue)
        case .midChunk: .word(ProtocolPhase.midBDATChunk.rawValue)
        case .betweenChunks: .word(ProtocolPhase.betweenBDATChunks.rawValue)
        case .atTime(let ns): .map([.init("time", .duration(ns))])
        case .handshakeBytes(let n): .map([.init("handshake-bytes", .number(n))])
        case .write(let side, let pattern, let cut, let epoch):
            .map([.init(side == .client ? "client-writes" : "server-writes", .text(pattern)), .init("cut", .word(cut.rawValue))]
                + (epoch.map { [.init("epoch", .number($0))] } ?? []))
        }
    }
}

extension FaultEffect {
    /// The fault's own settings as a file writes them (without `at`, `occurrence`,
    /// `connections`, `direction`, which belong to the rule); its name is `kind.rawValue`.
    public var settings: [Written.Entry] {
        switch self {
        case .latency(let lo, let hi): [.init("ms", .list([.number(lo / 1_000_000), .number(hi / 1_000_000)]))]
        case .split(let n): [.init("every", .number(n))]
        case .coalesce(let w): [.init("window", .duration(w))]
        case .stall(let d): [.init("for", .duration(d))]
        case .reset, .async421, .refuseConnection: []
        case .resetProbability(let r): [.init("probability", .word(r.description))]
        case .halfClose(let d), .truncate(let d): [.init("direction", d.written)]
        case .corrupt(let r): [.init("probability", .word(r.description))]
        case .replaceReply(let text): [.init("with", .text(text))]
        case .failHandshake(let kind): [.init("class", .word(kind.rawValue))]
        case .connectTimeout(let after): [.init("after", .duration(after))]
        case .tlsCloseNotify(let side, let then): [.init("from", .word(side.rawValue))] + then.settings
        case .tlsAlert(let side, let alert, let then): [.init("from", .word(side.rawValue)), .init("alert", .word(alert.rawValue))] + then.settings
        case .tlsTruncatedRecord(let side), .tlsBadRecord(let side), .tlsRenegotiate(let side): [.init("from", .word(side.rawValue))]
        case .tlsRecordSize(let side, let octets): (side.map { [.init("from", .word($0.rawValue))] } ?? []) + [.init("octets", .number(octets))]
        case .tlsKeyUpdate(let side, let request): [.init("from", .word(side.rawValue)), .init("request-update", .word(request ? "true" : "false"))]
        case .plaintextAfterTLS(let side, let bytes): [.init("from", .word(side.rawValue)), .init("bytes", .text(bytes))]
        }
    }
}

extension TLSAftermath {
    var settings: [Written.Entry] {
        (plaintext.map { [.init("then-plaintext", .text($0))] } ?? []) + (close ? [.init("then-close", .word("true"))] : [])
    }
}

extension FaultRule: ScenarioWritable {
    public var written: Written {
        var settings = effect.settings
        if let at { settings.append(.init("at", at.written)) }
        if let occurrence { settings.append(.init("occurrence", .number(occurrence))) }
        if let connections { settings.append(.init("connections", .list(connections.map { .number($0) }))) }
        if let direction { settings.append(.init("direction", direction.written)) }
        return .named(effect.kind.rawValue, settings)
    }
}

extension AttackAction: ScenarioWritable {
    public var written: Written {
        switch self {
        case .stripStartTLS(let mode): .named(name, [.init("mode", .word(mode.rawValue))])
        case .replaceStartTLSReply(let text): .named(name, [.init("with", .text(text))])
        case .injectToServer(let bytes, let same): .named(name, [.init("bytes", .text(bytes)), .init("same-segment", .word(same ? "true" : "false"))])
        case .injectToClient(let bytes): .named(name, [.init("bytes", .text(bytes))])
        case .tamperCapabilities(let add, let remove):
            .named(name, [.init("add", .list(add.map { .text($0) })), .init("remove", .list(remove.map { .text($0) }))])
        case .injectAuth(let user, let password): .named(name, [.init("user", .text(user)), .init("password", .text(password))])
        case .interceptTLS: .word(name)
        case .plaintextAfterTLS(let side, let bytes): .named(name, [.init("toward", .word(side.rawValue)), .init("bytes", .text(bytes))])
        }
    }
}
