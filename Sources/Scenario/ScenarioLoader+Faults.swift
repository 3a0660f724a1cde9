import EndpointHosting
import SMTPCore
import SMTPTLS
import Simulation

/// Faults and attacker actions (docs/scenario-format.md "faults", "attacker").
extension ScenarioLoader {
    // MARK: - Faults

    /// A fault; a grid's `template` takes neither `at` nor `from`, which the grid gives it.
    static func readFault(_ r: YAMLReader, template: Bool = false) throws(ScenarioError) -> FaultRule {
        let (name, value) = try r.tagged(FaultKind.allCases.map(\.rawValue))
        guard let kind = FaultKind(rawValue: name) else { throw r.error("unknown fault '\(name)'") }
        let common = ["at", "occurrence", "connections", "direction"]
        func object(_ extra: [String]) throws(ScenarioError) -> YAMLObject? { try value?.object(extra + common) }
        let effect: FaultEffect
        let o: YAMLObject?
        switch kind {
        case .latency:
            o = try object(["ms"])
            let ms = try (o?.required("ms").listOrOne() ?? []).map { x throws(ScenarioError) in Int64(try x.int(in: 0...86_400_000)) }
            guard let lo = ms.first else { throw r.error("latency needs ms: N or ms: [MIN, MAX]") }
            effect = .latency(min: lo * 1_000_000, max: (ms.last ?? lo) * 1_000_000)
        case .split:
            o = try object(["every"])
            effect = .split(maxSegment: try o?.required("every").int(in: 1...1_000_000) ?? 1)
        case .coalesce:
            o = try object(["window"])
            effect = .coalesce(window: try o?.required("window").duration() ?? 1_000_000)
        case .stall:
            o = try object(["for"])
            guard let o else { throw r.error("stall needs for: DURATION") }
            effect = .stall(duration: try o.required("for").duration())
        case .reset:
            o = try object(["probability"])
            if let p = o?["probability"] { effect = .resetProbability(try readRatio(p)) } else { effect = .reset }
        case .halfClose:
            o = try object([])
            effect = .halfClose(try o?["direction"].map { x throws(ScenarioError) in try readDirection(x) } ?? .serverToClient)
        case .truncate:
            o = try object([])
            effect = .truncate(try o?["direction"].map { x throws(ScenarioError) in try readDirection(x) } ?? .clientToServer)
        case .corrupt:
            o = try object(["probability"])
            effect = .corrupt(try o?["probability"].map { x throws(ScenarioError) in try readRatio(x) } ?? .always)
        case .replaceReply:
            o = try object(["with"])
            guard let o else { throw r.error("replace-reply needs with: TEXT") }
            effect = .replaceReply(try o.required("with").string())
        case .failHandshake:
            o = try object(["class"])
            guard let o else { throw r.error("fail-handshake needs class: FAILURE") }
            effect = .failHandshake(try o.required("class").enumeration(TLSFailure.Kind.self, TLSFailure.Kind.allCases))
        case .async421:
            o = try object([])
            effect = .async421
        case .refuseConnection:
            o = try object([])
            effect = .refuseConnection
        case .connectTimeout:
            o = try object(["after"])
            effect = .connectTimeout(try o?["after"]?.duration() ?? 30_000_000_000)
        case .tlsCloseNotify:
            o = try object(["from", "then-plaintext", "then-close"])
            effect = .tlsCloseNotify(from: try readSide(o, r, kind, template: template), then: try readAftermath(o))
        case .tlsAlert:
            o = try object(["from", "alert", "then-plaintext", "then-close"])
            guard let alert = o?["alert"] else { throw r.error("tls-alert needs alert: one of \(TLSSessionAlert.allCases.map(\.rawValue).joined(separator: ", "))") }
            effect = .tlsAlert(from: try readSide(o, r, kind, template: template), try alert.enumeration(TLSSessionAlert.self, TLSSessionAlert.allCases), then: try readAftermath(o))
        case .tlsTruncatedRecord:
            o = try object(["from"])
            effect = .tlsTruncatedRecord(from: try readSide(o, r, kind, template: template))
        case .tlsBadRecord:
            o = try object(["from"])
            effect = .tlsBadRecord(from: try readSide(o, r, kind, template: template))
        case .tlsRecordSize:
            o = try object(["from", "octets"])
            guard let n = o?["octets"] else { throw r.error("tls-record-size needs octets: N (1 to 16384, RFC 8446 §5.1)") }
            effect = .tlsRecordSize(from: try o?["from"]?.enumeration(Side.self, Side.allCases), octets: try n.int(in: 1...16_384))
        case .tlsKeyUpdate:
            o = try object(["from", "request-update"])
            effect = .tlsKeyUpdate(from: try readSide(o, r, kind, template: template), requestUpdate: try o?["request-update"]?.bool() ?? false)
        case .tlsRenegotiate:
            o = try object(["from"])
            effect = .tlsRenegotiate(from: try readSide(o, r, kind, template: template))
        case .plaintextAfterTLS:
            o = try object(["from", "bytes"])
            guard let bytes = o?["bytes"] else { throw r.error("plaintext-after-tls needs bytes: TEXT") }
            effect = .plaintextAfterTLS(from: try readSide(o, r, kind, template: template), bytes: try bytes.string())
        }
        var rule = FaultRule(effect)
        if let at = o?["at"] {
            if template { throw at.error("a grid gives its faults their phase: list the phases in the grid's at") }
            rule.at = try readTrigger(at)
        }
        if let n = o?["occurrence"] {
            guard rule.at != nil else { throw n.error("occurrence counts the times a trigger is met: give at as well") }
            rule.occurrence = try n.int(in: 1...1_000_000)
        }
        if let c = o?["connections"] { rule.connections = try c.listOrOne().map { x throws(ScenarioError) in try x.int(in: 1...1_000_000) } }
        if let d = o?["direction"], kind != .halfClose, kind != .truncate { rule.direction = try readDirection(d) }
        switch effect {
        case .stall, .reset, .halfClose, .truncate, .replaceReply, .async421, .tlsCloseNotify, .tlsAlert, .tlsTruncatedRecord, .tlsBadRecord,
            .tlsKeyUpdate, .tlsRenegotiate, .plaintextAfterTLS:
            if rule.at == nil, !template {
                throw r.error("'\(kind.rawValue)' needs at: a phase (\(ProtocolPhase.allCases.map(\.rawValue).joined(separator: ", "))) or a trigger")
            }
        case .latency, .split, .coalesce, .corrupt, .resetProbability, .failHandshake, .refuseConnection, .connectTimeout, .tlsRecordSize:
            break
        }
        return rule
    }

    /// The side a TLS session fault acts from (`from: client|server`), required.
    static func readSide(_ o: YAMLObject?, _ r: YAMLReader, _ kind: FaultKind, template: Bool) throws(ScenarioError) -> Side {
        guard let from = o?["from"] else {
            if template { return .client }  // the grid sets the side
            throw r.error("'\(kind.rawValue)' needs from: client or from: server")
        }
        if template { throw from.error("a grid gives its faults their side: list the sides in the grid's from") }
        return try from.enumeration(Side.self, Side.allCases)
    }

    static func readAftermath(_ o: YAMLObject?) throws(ScenarioError) -> TLSAftermath {
        TLSAftermath(plaintext: try o?["then-plaintext"]?.string(), close: try o?["then-close"]?.bool() ?? false)
    }

    static func readRatio(_ r: YAMLReader) throws(ScenarioError) -> Ratio {
        let s = try r.string()
        guard let ratio = Ratio(s) else { throw r.error("expected a probability such as 1/4 or 25%, found '\(s)'") }
        return ratio
    }

    static func readDirection(_ r: YAMLReader) throws(ScenarioError) -> Direction {
        switch try r.string() {
        case "c>s", "client-to-server": .clientToServer
        case "s>c", "server-to-client": .serverToClient
        case let other: throw r.error("unknown direction '\(other)'; expected client-to-server or server-to-client")
        }
    }

    static func readTrigger(_ r: YAMLReader) throws(ScenarioError) -> Trigger {
        if r.isScalar {
            let s = try r.string()
            if let phase = ProtocolPhase(rawValue: s) { return .phase(phase) }
            switch s {
            case "connection-opened": return .connectionOpened
            case "tls-started": return .tlsStarted
            default:
                let names = ProtocolPhase.allCases.map(\.rawValue) + ["connection-opened", "tls-started"]
                throw r.error("unknown phase '\(s)'; expected one of: \(names.joined(separator: ", ")) or {client-writes|server-writes|time|handshake-bytes: …}",
                              suggestion: closest(s, among: names))
            }
        }
        let o = try r.object(["client-writes", "server-writes", "cut", "epoch", "time", "handshake-bytes"])
        if let t = o["time"] { return .atTime(try t.duration()) }
        if let h = o["handshake-bytes"] { return .handshakeBytes(try h.int(in: 0...1_000_000)) }
        let cut = try o["cut"]?.enumeration(Cut.self, [.afterMatch, .afterWrite, .beforeMatch]) ?? .afterWrite
        let epoch = try o["epoch"]?.int(in: 0...1)
        if let p = o["client-writes"] { return .write(side: .client, pattern: try p.string(), cut: cut, epoch: epoch) }
        if let p = o["server-writes"] { return .write(side: .server, pattern: try p.string(), cut: cut, epoch: epoch) }
        throw r.error("a trigger needs one of client-writes, server-writes, time, handshake-bytes")
    }

    // MARK: - Attacker

    static func readAttack(_ r: YAMLReader) throws(ScenarioError) -> AttackAction {
        let (name, value) = try r.tagged(AttackKind.allCases.map(\.rawValue))
        guard let kind = AttackKind(rawValue: name) else { throw r.error("unknown attacker action '\(name)'") }
        switch kind {
        case .stripStartTLS:
            let o = try value?.object(["mode"])
            return .stripStartTLS(try o?["mode"]?.enumeration(AttackAction.StripMode.self, [.overwrite, .delete]) ?? .overwrite)
        case .replaceStartTLSReply:
            let o = try need(value, r, kind.rawValue).object(["with"])
            return .replaceStartTLSReply(try o.required("with").string())
        case .injectToServer:
            let o = try need(value, r, kind.rawValue).object(["bytes", "same-segment"])
            return .injectToServer(bytes: try o.required("bytes").string(), sameSegment: try o["same-segment"]?.bool() ?? true)
        case .injectToClient:
            let o = try need(value, r, kind.rawValue).object(["bytes"])
            return .injectToClient(bytes: try o.required("bytes").string())
        case .tamperCapabilities:
            let o = try need(value, r, kind.rawValue).object(["add", "remove"])
            return .tamperCapabilities(add: try o["add"]?.list().map { x throws(ScenarioError) in try x.string() } ?? [],
                                       remove: try o["remove"]?.list().map { x throws(ScenarioError) in try x.string() } ?? [])
        case .injectAuth:
            let o = try need(value, r, kind.rawValue).object(["user", "password"])
            return .injectAuth(username: try o.required("user").string(), password: try o.required("password").string())
        case .plaintextAfterTLS:
            let o = try need(value, r, kind.rawValue).object(["toward", "bytes"])
            return .plaintextAfterTLS(toward: try o.required("toward").enumeration(Side.self, Side.allCases), bytes: try o.required("bytes").string())
        case .interceptTLS:
            _ = try value?.object([])
            return .interceptTLS
        }
    }
}
