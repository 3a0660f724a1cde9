import SMTPCore

/// What the on-path attacker does (docs/catalog.md B1–B4, D1–D5). Each action is a value; the attacker
/// works on the plaintext part of a connection, line by line, and lets TLS records pass.
public enum AttackAction: Hashable, Sendable, Codable {
    public enum StripMode: String, Hashable, Sendable, Codable {
        /// Remove the STARTTLS line from the EHLO reply.
        case delete
        /// Replace it with `XXXXXXXX`, keeping the length (the EFF's fingerprint).
        case overwrite
    }

    /// B1: hide STARTTLS in the EHLO reply.
    case stripStartTLS(StripMode)
    /// B2/B4: answer the client's STARTTLS itself (the server never sees it): a refusal such as
    /// `454 4.7.0 TLS not available`, or a bogus `220` followed by plaintext.
    case replaceStartTLSReply(String)
    /// D1/D2: send these bytes to the server right after the client's STARTTLS line: in the same
    /// segment, or as a segment of their own after the server's 220.
    case injectToServer(bytes: String, sameSegment: Bool)
    /// D3: append reply lines to the server's 220 to STARTTLS, in the same segment.
    case injectToClient(bytes: String)
    /// D4: edit the plaintext EHLO reply (keywords added or removed).
    case tamperCapabilities(add: [String], remove: [String])
    /// D5: log in as the attacker before the client's STARTTLS, and hide the server's answer.
    case injectAuth(username: String, password: String)
    /// C6: terminate the client's TLS with the attacker's own certificate (signed by a CA the
    /// client does not trust) and open a second TLS session to the server; relay the plaintext.
    case interceptTLS
    /// I3: once TLS is up, cleartext octets toward `toward` right after the first
    /// application-data record that travels to it (no close_notify): a record-layer error for a
    /// compliant peer, never a command or a reply.
    case plaintextAfterTLS(toward: Side, bytes: String)

    public var kind: AttackKind {
        switch self {
        case .stripStartTLS: .stripStartTLS
        case .replaceStartTLSReply: .replaceStartTLSReply
        case .injectToServer: .injectToServer
        case .injectToClient: .injectToClient
        case .tamperCapabilities: .tamperCapabilities
        case .injectAuth: .injectAuth
        case .interceptTLS: .interceptTLS
        case .plaintextAfterTLS: .plaintextAfterTLS
        }
    }

    /// Its name in a scenario file and in the trace.
    public var name: String { kind.rawValue }
}

/// Every attacker action a scenario file can name, with its settings and what it does (the one
/// table the loader, the writer, `smtpsim faults` and the schema test read).
public enum AttackKind: String, CaseIterable, Hashable, Sendable {
    case stripStartTLS = "strip-starttls"
    case replaceStartTLSReply = "replace-starttls-reply"
    case injectToServer = "inject-to-server"
    case injectToClient = "inject-to-client"
    case tamperCapabilities = "tamper-capabilities"
    case injectAuth = "inject-auth"
    case interceptTLS = "intercept-tls"
    case plaintextAfterTLS = "plaintext-after-tls"

    public var parameters: String {
        switch self {
        case .stripStartTLS: "mode: overwrite | delete"
        case .replaceStartTLSReply: "with: TEXT"
        case .injectToServer: "bytes: TEXT, same-segment: BOOL"
        case .injectToClient: "bytes: TEXT"
        case .tamperCapabilities: "add: [..], remove: [..]"
        case .injectAuth: "user, password"
        case .interceptTLS: ""
        case .plaintextAfterTLS: "toward: SIDE, bytes: TEXT"
        }
    }

    /// The action works on the plaintext before TLS (docs/catalog.md B, D): on an implicit-TLS
    /// connection (RFC 8314 §3) there is none, and it is not applicable.
    public var needsPlaintextPhase: Bool {
        switch self {
        case .stripStartTLS, .replaceStartTLSReply, .injectToServer, .injectToClient, .tamperCapabilities, .injectAuth: true
        case .interceptTLS, .plaintextAfterTLS: false
        }
    }

    public var summary: String {
        switch self {
        case .stripStartTLS: "hide STARTTLS in the EHLO reply (docs/catalog.md B1)"
        case .replaceStartTLSReply: "answer STARTTLS itself: 454, or a bogus 220 (B2, B4)"
        case .injectToServer: "commands after STARTTLS (D1, D2; CVE-2011-0411)"
        case .injectToClient: "reply lines after the 220 (D3)"
        case .tamperCapabilities: "edit the plaintext EHLO reply (D4)"
        case .injectAuth: "log in before the client's STARTTLS, hide the reply (D5)"
        case .interceptTLS: "terminate TLS with the attacker's own certificate (C6)"
        case .plaintextAfterTLS: "cleartext toward a side after its first TLS application record (I3)"
        }
    }
}

/// The attacker's state on one connection: line buffers per direction and what it has seen.
/// Sans-IO: the simulator's links and `smtpsim proxy`'s real sockets both feed it.
public struct AttackerState: Sendable {
    let actions: [AttackAction]
    /// Partial line, client to server.
    var clientLine: [UInt8] = []
    /// Lines of the server reply being assembled.
    var serverLines: [[UInt8]] = []
    var serverPartial: [UInt8] = []
    /// The client sent STARTTLS (forwarded); the next server reply is its answer.
    var awaitingStartTLSReply = false
    /// After these, the direction carries TLS records and passes untouched.
    public internal(set) var clientToServerOpaque = false
    public internal(set) var serverToClientOpaque = false
    /// Server replies to hide from the client (answers to injected commands).
    var swallowReplies = 0
    var injectedAuth = false
    var sawEHLOReply = false
    /// Bytes to send to the server once the 220 to STARTTLS has passed (injection "later").
    var lateInjection: [UInt8]?
    /// Cleartext waiting for the first application-data record toward each side.
    var cleartextAfterTLS: [Side: [UInt8]] = [:]
    /// `tlsFromFirstOctet()` was told (or saw) the connection is implicit TLS.
    public private(set) var sawImplicitTLS = false
    /// A plaintext octet passed either way (what tells implicit TLS from a ClientHello after STARTTLS).
    var sawPlaintext = false

    public init(actions: [AttackAction]) {
        self.actions = actions
        for case .plaintextAfterTLS(let side, let bytes) in actions { cleartextAfterTLS[side, default: []] += Array(bytes.utf8) }
    }

    /// The attacker wants to see TLS records (to put cleartext behind one).
    public var watchesTLSRecords: Bool { !cleartextAfterTLS.isEmpty }

    /// The connection is TLS from its first octet (implicit TLS, RFC 8314 §3): both directions
    /// carry TLS records only. Returns, once, an effect for each action that needs a plaintext
    /// phase: it is not applicable here, and says so rather than pass silently.
    public mutating func tlsFromFirstOctet() -> [Effect] {
        guard !sawImplicitTLS else { return [] }
        sawImplicitTLS = true
        clientToServerOpaque = true
        serverToClientOpaque = true
        var seen: Set<AttackKind> = []
        return actions.filter { $0.kind.needsPlaintextPhase && seen.insert($0.kind).inserted }.map {
            Effect(name: $0.name, detail: Self.notApplicable)
        }
    }

    /// What an action with no plaintext phase to work on reports (the trace and `expect.not-applicable` read it).
    public static let notApplicable = "not applicable: the connection is TLS from its first octet (implicit TLS, RFC 8314 §3), there is no plaintext phase to attack"

    /// A TLS record of application data (after the handshake: the caller knows which records
    /// are handshake flights; a relay of opaque bytes does not, so `smtpsim proxy` offers this as
    /// `--fault plaintext-after-tls` with intercept-tls instead) travelling toward `side`: the
    /// cleartext to send right behind it, once (content type 23, RFC 8446 §5.1).
    public mutating func cleartext(after record: [UInt8], toward side: Side) -> (bytes: [UInt8], effect: Effect)? {
        guard let bytes = cleartextAfterTLS[side], record.first == TLSRecords.applicationData else { return nil }
        cleartextAfterTLS[side] = nil
        return (bytes, Effect(name: AttackKind.plaintextAfterTLS.rawValue, detail: "\(bytes.count) cleartext octets toward the \(side.rawValue) inside TLS: \(BytePreview.text(bytes, limit: 60))"))
    }

    /// What happened, for the trace.
    public struct Effect: Sendable {
        public var name: String
        public var detail: String
    }

    /// Rewrites one client write. Returns what to send to the server, what to answer the client
    /// directly, and what was done.
    public mutating func clientWrite(_ bytes: [UInt8]) -> (toServer: [UInt8], toClient: [UInt8], effects: [Effect]) {
        if clientToServerOpaque { return (bytes, [], []) }
        if !sawPlaintext, bytes.first == TLSRecords.handshake {
            // A ClientHello before anything else: implicit TLS (what a relay of real sockets sees).
            return (bytes, [], tlsFromFirstOctet())
        }
        sawPlaintext = true
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        var effects: [Effect] = []
        var i = 0
        while i < bytes.count {
            if clientToServerOpaque {
                toServer += bytes[i...]
                break
            }
            clientLine.append(bytes[i])
            i += 1
            guard clientLine.count >= 2, clientLine[clientLine.count - 2] == 0x0D, clientLine.last == 0x0A else { continue }
            let line = clientLine
            clientLine = []
            let text = String(decoding: line.dropLast(2), as: UTF8.self).uppercased()
            guard text == "STARTTLS" else {
                toServer += line
                continue
            }
            for action in actions {
                if case .injectAuth(let user, let password) = action, !injectedAuth {
                    injectedAuth = true
                    let plain = Array("\u{0}\(user)\u{0}\(password)".utf8)
                    toServer += Array("AUTH PLAIN \(Base64.encode(plain))\r\n".utf8)
                    swallowReplies += 1
                    effects.append(Effect(name: action.name, detail: "AUTH PLAIN as \(user) sent before STARTTLS"))
                }
            }
            if let reply = actions.lazy.compactMap({ if case .replaceStartTLSReply(let r) = $0 { r } else { nil } }).first {
                // The server never sees STARTTLS; the attacker answers.
                toClient += Array(reply.utf8)
                effects.append(Effect(name: "replace-starttls-reply", detail: "answered STARTTLS with \(reply.debugDescription)"))
                continue
            }
            toServer += line
            awaitingStartTLSReply = true
            for action in actions {
                guard case .injectToServer(let extra, let same) = action else { continue }
                if same {
                    toServer += Array(extra.utf8)
                    effects.append(Effect(name: action.name, detail: "appended \(extra.debugDescription) to the STARTTLS segment"))
                } else {
                    lateInjection = Array(extra.utf8)
                }
            }
            // What follows is the ClientHello.
            clientToServerOpaque = true
        }
        return (toServer, toClient, effects)
    }

    /// Rewrites one server write. Returns what to send to the client, and bytes to send to the
    /// server afterwards (a late injection).
    public mutating func serverWrite(_ bytes: [UInt8]) -> (toClient: [UInt8], toServer: [UInt8], effects: [Effect]) {
        if serverToClientOpaque { return (bytes, [], []) }
        sawPlaintext = true
        var out: [UInt8] = []
        var late: [UInt8] = []
        var effects: [Effect] = []
        var i = 0
        while i < bytes.count {
            if serverToClientOpaque {
                out += bytes[i...]
                break
            }
            serverPartial.append(bytes[i])
            i += 1
            guard serverPartial.count >= 2, serverPartial[serverPartial.count - 2] == 0x0D, serverPartial.last == 0x0A else { continue }
            let line = serverPartial
            serverPartial = []
            serverLines.append(line)
            // A reply ends on a line whose fourth byte is not "-".
            guard line.count < 4 || line[3] != 0x2D else { continue }
            var reply = serverLines
            serverLines = []
            if swallowReplies > 0 {
                swallowReplies -= 1
                effects.append(Effect(name: "inject-auth", detail: "hid the server's reply \(String(decoding: reply[0].prefix(3), as: UTF8.self)) from the client"))
                continue
            }
            if awaitingStartTLSReply {
                awaitingStartTLSReply = false
                out += reply.flatMap { $0 }
                if reply.last?.starts(with: Array("220".utf8)) == true {
                    for action in actions {
                        if case .injectToClient(let extra) = action {
                            out += Array(extra.utf8)
                            effects.append(Effect(name: action.name, detail: "appended \(extra.debugDescription) to the 220"))
                        }
                    }
                    if let bytes = lateInjection {
                        late = bytes
                        lateInjection = nil
                        effects.append(Effect(name: "inject-to-server", detail: "sent \(String(decoding: bytes, as: UTF8.self).debugDescription) after the 220"))
                    }
                    serverToClientOpaque = true
                }
                continue
            }
            if !sawEHLOReply, reply.count > 1, reply[0].starts(with: Array("250".utf8)) {
                sawEHLOReply = true
                reply = rewriteEHLO(reply, &effects)
            }
            out += reply.flatMap { $0 }
        }
        return (out, late, effects)
    }

    private func rewriteEHLO(_ reply: [[UInt8]], _ effects: inout [Effect]) -> [[UInt8]] {
        var lines = reply.map { String(decoding: $0.dropLast(2), as: UTF8.self) }
        for action in actions {
            switch action {
            case .stripStartTLS(let mode):
                for (k, l) in lines.enumerated() where l.dropFirst(4).uppercased() == "STARTTLS" {
                    switch mode {
                    case .overwrite:
                        lines[k] = String(l.prefix(4)) + "XXXXXXXX"
                    case .delete:
                        lines[k] = ""
                    }
                    effects.append(Effect(name: action.name, detail: mode == .overwrite ? "STARTTLS overwritten with XXXXXXXX" : "STARTTLS line deleted"))
                }
            case .tamperCapabilities(let add, let remove):
                let removeSet = Set(remove.map { $0.uppercased() })
                for (k, l) in lines.enumerated() where k > 0 {
                    let keyword = l.dropFirst(4).split(separator: " ").first.map { String($0).uppercased() } ?? ""
                    if removeSet.contains(keyword) { lines[k] = "" }
                }
                lines += add.map { "250-" + $0 }
                effects.append(Effect(name: action.name, detail: "added \(add), removed \(remove)"))
            case .replaceStartTLSReply, .injectToServer, .injectToClient, .injectAuth, .interceptTLS, .plaintextAfterTLS:
                break
            }
        }
        lines = lines.filter { !$0.isEmpty }
        // Repair the separators: every line "250-", the last "250 ".
        for k in lines.indices {
            let code = String(lines[k].prefix(3))
            lines[k] = code + (k == lines.count - 1 ? " " : "-") + String(lines[k].dropFirst(4))
        }
        return lines.map { Array(($0 + "\r\n").utf8) }
    }
}
