import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import Foundation
import Yams

/// Reads scenario files (version 1). Every key is checked; an unknown or misspelt key, a wrong
/// type or an unknown value is an error with file:line:column, never a crash.
public enum ScenarioLoader {
    public static let topKeys = ["version", "name", "description", "seed", "server", "client", "clients", "tls", "faults", "attacker",
                                 "expect", "fault-window", "liveness-window", "event-budget", "sweep", "relay"]

    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ScenarioError(file: path, keyPath: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(try text(of: Array(data), file: path), file: path)
    }

    /// The file's text (YAML 1.2 §5.2: UTF-8 here), or where it stops being UTF-8.
    static func text(of bytes: [UInt8], file: String) throws(ScenarioError) -> String {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        var scalars = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let v):
                scalars.append(v)
                offset += String(v).utf8.count
            case .emptyInput:
                return String(scalars)
            case .error:
                let (line, column) = position(of: offset, in: bytes)
                let octet = bytes[min(offset, bytes.count - 1)]
                throw ScenarioError(file: file, line: line, column: column, keyPath: "",
                                    message: "not UTF-8: the octet 0x\(String(octet, radix: 16, uppercase: true)) is no character (a scenario file is UTF-8 text)")
            }
        }
    }

    /// The 1-based line and column of octet `offset`.
    static func position(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for b in bytes.prefix(offset) {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return (line, column)
    }

    /// One fault as a scenario file writes it (`{tls-close-notify: {from: server, at: mid-body}}`),
    /// for the command line's `--fault`.
    public static func parseFault(_ text: String) throws(ScenarioError) -> FaultRule {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ScenarioError(file: "--fault", keyPath: "", message: "not YAML: \(error)")
        }
        guard let node else { throw ScenarioError(file: "--fault", line: 1, column: 1, keyPath: "", message: "no fault given") }
        return try readFault(YAMLReader(node: node, path: "", file: "--fault"))
    }

    public static func parse(_ text: String, file: String) throws(ScenarioError) -> Scenario {
        let root = try YAMLReader(node: try compose(text, file: file), path: "", file: file).object(topKeys)
        let version = try root.required("version").int()
        guard version == 1 else { throw try root.required("version").error("unsupported version \(version); this smtpsim reads version 1") }
        let name = try root.required("name").string()
        let seed = try root["seed"]?.uint64() ?? 1
        var config = SimulationConfiguration(seed: seed)
        var serverScript: [ScriptStep]?
        if let server = root["server"] {
            serverScript = try readServer(server, into: &config)
        }
        if let relay = root["relay"] { config.relay = try readRelay(relay, behind: config.server.configuration.hostname) }
        let firstHostname = config.relay?.server.configuration.hostname ?? config.server.configuration.hostname
        var clientScripts: [[ScriptStep]?] = []
        if root.has("client") && root.has("clients") { throw root.reader.error("give either 'client' or 'clients', not both") }
        let clientReaders = try root["clients"]?.list() ?? (root["client"].map { [$0] } ?? [])
        guard !clientReaders.isEmpty else { throw root.reader.error("missing required key 'client' (or 'clients')") }
        config.clients = []
        for (index, reader) in clientReaders.enumerated() {
            let (spec, script) = try readClient(reader, index: index, serverName: firstHostname)
            config.clients.append(spec)
            clientScripts.append(script)
        }
        if let tls = root["tls"] {
            let name = try tls.string()
            let names = TLSProfileName.allCases.map(\.rawValue)
            guard let profile = TLSProfileName(rawValue: name)?.profile else {
                throw tls.error("unknown tls profile '\(name)'; expected \(names.joined(separator: ", "))", suggestion: closest(name, among: names))
            }
            config.tls = profile
        }
        config.faults = try root["faults"]?.list().map { r throws(ScenarioError) in try readFault(r) } ?? []
        config.attacker = try root["attacker"]?.list().map { r throws(ScenarioError) in try readAttack(r) } ?? []
        if let w = root["fault-window"] { config.faultWindow = try w.duration() }
        if let w = root["liveness-window"] { config.livenessWindow = try w.duration() }
        if let b = root["event-budget"] { config.eventBudget = try b.int(in: 1...100_000_000) }
        let expectations = try root["expect"].map { r throws(ScenarioError) in try readExpectations(r) } ?? Expectations()
        return Scenario(
            file: file, name: name, description: try root["description"]?.string() ?? "", seed: seed, configuration: config,
            serverScript: serverScript, clientScripts: clientScripts, expectations: expectations,
            sweep: try root["sweep"].map { r throws(ScenarioError) in try readSweep(r) })
    }

    /// The server side of a scenario alone: a mapping with `server` (a scripted server is not
    /// one), `faults` and `seed`, read as `parse` reads them (the checks of `probe --client`).
    /// The configuration has no client.
    public static func parseServerSide(_ text: String, file: String) throws(ScenarioError) -> SimulationConfiguration {
        let root = try YAMLReader(node: try compose(text, file: file), path: "", file: file).object(["server", "faults", "seed"])
        var config = SimulationConfiguration(seed: try root["seed"]?.uint64() ?? 1)
        if let server = root["server"], try readServer(server, into: &config) != nil {
            throw server.error("a scripted server cannot be served here")
        }
        config.clients = []
        config.faults = try root["faults"]?.list().map { r throws(ScenarioError) in try readFault(r) } ?? []
        return config
    }

    /// The YAML node of a file's text, or a scenario error with its line.
    static func compose(_ text: String, file: String) throws(ScenarioError) -> Node {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw yamlError(e, file: file, text: text)
        } catch {
            throw ScenarioError(file: file, keyPath: "", message: "not YAML: \(error)")
        }
        guard let node else { throw ScenarioError(file: file, line: 1, column: 1, keyPath: "", message: "the file is empty") }
        return node
    }

    static func yamlError(_ e: YamlError, file: String, text: String) -> ScenarioError {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ScenarioError(file: file, line: mark.line, column: mark.column, keyPath: "", message: "YAML syntax: \(problem)")
        case .reader(let problem, let offset, _, _):
            let (line, column) = position(of: offset ?? 0, in: Array(text.utf8))
            return ScenarioError(file: file, line: line, column: column, keyPath: "", message: "not YAML text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Where the key is given the second time (Yams names the mapping), found in the text.
            let key = duplicates.sorted().first ?? ""
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let at = lines.indices.filter { i in
                let t = lines[i].drop { $0 == " " || $0 == "-" }
                return t.hasPrefix(key + ":") || t.hasPrefix("{" + key + ":")
            }.dropFirst().first
            let line = at.map { $0 + 1 } ?? context.mark.line
            let column = at.map { lines[$0].prefix { $0 == " " || $0 == "-" }.count + 1 } ?? context.mark.column
            return ScenarioError(file: file, line: line, column: column, keyPath: "", message: "key '\(key)' given twice")
        case .no, .memory, .writer, .emitter, .representer, .dataCouldNotBeDecoded:
            return ScenarioError(file: file, line: 1, column: 1, keyPath: "", message: "YAML: \(e)")
        }
    }

    // MARK: - Server

    static let serverKeys = ["security", "hostname", "greeting", "greeting-delay", "certificate", "key-type", "min-tls", "max-tls", "security-level",
                             "extensions", "extensions-after-tls", "tls-available", "require-tls", "auth", "require-auth",
                             "reject-recipients", "reject-bare-line-endings", "flaws", "script", "timeouts", "limits", "rules"]

    static func readServer(_ r: YAMLReader, into config: inout SimulationConfiguration) throws(ScenarioError) -> [ScriptStep]? {
        let o = try r.object(serverKeys)
        var s = ServerConfiguration()
        if let h = o["hostname"] { s.hostname = try h.string() }
        if let g = o["greeting"] { s.greeting = try g.listOrOne().map { x throws(ScenarioError) in try x.string() } }
        if let d = o["greeting-delay"] { s.greetingDelay = try d.duration() }
        if let c = o["certificate"] {
            if c.isScalar {
                config.server.certificate = try c.enumeration(CertificateFactory.Variant.self, CertificateFactory.Variant.allCases)
            } else {
                // Bring your own: PEM files relative to the scenario file.
                let co = try c.object(["pem", "key"])
                let base = (r.file as NSString).deletingLastPathComponent
                func read(_ key: String) throws(ScenarioError) -> String {
                    let k = try co.required(key)
                    let name = try k.string()
                    let path = name.hasPrefix("/") ? name : (base as NSString).appendingPathComponent(name)
                    do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw k.error("cannot read \(path)") }
                }
                do {
                    config.server.identity = try TLSIdentity(certificatePEM: try read("pem"), keyPEM: try read("key"))
                } catch let e as ScenarioError {
                    throw e
                } catch {
                    throw c.error("unusable certificate or key: \(error)")
                }
            }
        }
        if let k = o["key-type"] { config.server.keyType = try k.enumeration(CertificateFactory.KeyType.self, [.p256, .rsa2048]) }
        if let v = o["min-tls"] { config.server.minimumTLSVersion = try readVersion(v) }
        if let v = o["max-tls"] { config.server.maximumTLSVersion = try readVersion(v) }
        if let l = o["security-level"] { config.server.securityLevel = try l.int(in: 0...5) }
        if let e = o["extensions"] {
            s.extensionsBeforeTLS = try e.list().map { x throws(ScenarioError) in try readCapability(x) }
            if !o.has("extensions-after-tls") { s.extensionsAfterTLS = s.extensionsBeforeTLS.filter { $0 != .startTLS } }
        }
        if let e = o["extensions-after-tls"] { s.extensionsAfterTLS = try e.list().map { x throws(ScenarioError) in try readCapability(x) } }
        if let b = o["tls-available"] { s.tlsAvailable = try b.bool() }
        if let b = o["require-tls"] { s.requireTLS = try b.bool() }
        if let a = o["auth"] {
            let ao = try a.object(["mechanisms", "users", "before-tls-reply"])
            if let m = ao["mechanisms"] { s.authMechanisms = try m.list().map { x throws(ScenarioError) in try x.string().uppercased() } }
            if let u = ao["users"] {
                let users = try u.object(u.node.mapping?.keys.compactMap { $0.scalar?.string } ?? [])
                for (name, password) in users.entries { s.credentials[name] = try password.string() }
            }
            if let b = ao["before-tls-reply"] { s.authBeforeTLSReply = try b.enumeration(ServerConfiguration.AuthBeforeTLSReply.self, [.mustStartTLS, .encryptionRequired]) }
        }
        if let b = o["require-auth"] { s.requireAuthentication = try b.bool() }
        if let l = o["reject-recipients"] { s.rejectedRecipients = try l.list().map { x throws(ScenarioError) in try x.string() } }
        if let b = o["reject-bare-line-endings"] { s.rejectBareLineEndings = try b.bool() }
        if let f = o["flaws"] { s.flaws = Set(try f.list().map { x throws(ScenarioError) in try x.enumeration(ServerFlaw.self, ServerFlaw.allCases) }) }
        if let t = o["timeouts"] {
            let to = try t.object(["command", "data"])
            if let v = to["command"] { s.timeouts.command = try v.duration() }
            if let v = to["data"] { s.timeouts.data = try v.duration() }
        }
        if let l = o["limits"] {
            let lo = try l.object(["recipients", "message-size", "command-line", "text-line"])
            if let v = lo["recipients"] { s.limits.recipients = try v.int(in: SMTPLimits.rfcRecipients...1_000_000) }
            if let v = lo["message-size"] { s.limits.messageSize = try v.int(in: SMTPLimits.rfcMessageSize...(1 << 30)) }
            if let v = lo["command-line"] { s.limits.commandLine = try v.int(in: SMTPLimits.rfcCommandLine...(1 << 20)) }
            if let v = lo["text-line"] { s.limits.textLine = try v.int(in: SMTPLimits.rfcTextLine...(1 << 20)) }
        }
        s.rules = try o["rules"]?.list().map { x throws(ScenarioError) in try readServerRule(x) } ?? []
        let security = try readServerSecurity(o, into: &s)
        config.server.configuration = s
        if o.has("rules"), o.has("script") { throw r.error("rules apply to smtpsim's server; a script replaces it: give one or the other") }
        // A scripted server under implicit TLS starts TLS before its first step (RFC 8314 §3).
        return try o["script"].map { x throws(ScenarioError) in (security == .implicitTLS ? [.startTLS] : []) + (try readScript(x)) }
    }

    /// `security` (RFC 3207, RFC 8314 §3): STARTTLS (the default), implicit TLS or none, and the
    /// keys that would contradict it.
    static func readServerSecurity(_ o: YAMLObject, into s: inout ServerConfiguration) throws(ScenarioError) -> ConnectionSecurity {
        guard let v = o["security"] else { return .startTLS }
        let security = try v.enumeration(ConnectionSecurity.self, ConnectionSecurity.allCases)
        func contradicts(_ key: String, _ why: String) throws(ScenarioError) {
            if let k = o[key] { throw k.error("'\(key)' contradicts 'security: \(security.rawValue)': \(why)") }
        }
        let listsSTARTTLS = s.extensionsBeforeTLS.contains(.startTLS)
        switch security {
        case .startTLS:
            if let t = o["tls-available"], try !t.bool() { try contradicts("tls-available", "a server that offers STARTTLS has TLS") }
            if o.has("extensions"), !listsSTARTTLS { try contradicts("extensions", "STARTTLS must be among the extensions") }
        case .implicitTLS:
            try contradicts("tls-available", "an implicit-TLS server is always in TLS")
            try contradicts("require-tls", "an implicit-TLS server has no plaintext to refuse")
            if o.has("extensions"), listsSTARTTLS { try contradicts("extensions", "STARTTLS is not offered inside implicit TLS (RFC 8314 §3.3; the flaw advertises-starttls-after-tls does that)") }
            s.implicitTLS = true
        case .none:
            if let t = o["tls-available"], try t.bool() { try contradicts("tls-available", "a server without TLS") }
            try contradicts("require-tls", "a server without TLS cannot require it")
            if o.has("extensions"), listsSTARTTLS { try contradicts("extensions", "a server without TLS does not offer STARTTLS") }
            s.tlsAvailable = false
            s.extensionsBeforeTLS.removeAll { $0 == .startTLS }
        }
        return security
    }

    static func readVersion(_ r: YAMLReader) throws(ScenarioError) -> TLSVersion {
        switch try r.string() {
        case "1.0": .tls10
        case "1.1": .tls11
        case "1.2": .tls12
        case "1.3": .tls13
        case let other: throw r.error("unknown TLS version '\(other)'; expected 1.0, 1.1, 1.2 or 1.3")
        }
    }

    static func readCapability(_ r: YAMLReader) throws(ScenarioError) -> Capability {
        do {
            return try Capability(line: try r.string())
        } catch let e as SMTPError {
            throw r.error("not an EHLO extension: \(e.detail)")
        } catch let e as ScenarioError {
            throw e
        } catch {
            throw r.error("\(error)")
        }
    }

    // MARK: - Client

    static let clientKeys = ["security", "policy", "trust", "server-name", "helo", "pipelining", "chunking", "chunk-size", "helo-fallback", "line-endings", "auth",
                             "retries", "flaws", "connect-at", "messages", "script", "intended", "timeouts", "rules", "skip-quit",
                             "plaintext-retry-after-tls-failure"]

    /// `forwarding`: the relay's outbound side, which sends what the relay accepted (no messages,
    /// script or start time of its own).
    static func readClient(_ r: YAMLReader, index: Int, serverName: String, forwarding: Bool = false) throws(ScenarioError) -> (ClientSpec, [ScriptStep]?) {
        let o = try r.object(clientKeys)
        if forwarding, let key = ["messages", "script", "intended", "connect-at"].first(where: o.has) {
            throw r.error("the relay's client forwards what the relay accepts: '\(key)' does not apply to it")
        }
        var spec = ClientSpec()
        var c = ClientConfiguration()
        c.serverName = serverName
        if let p = o["policy"] { c.policy = try readPolicy(p) }
        if let t = o["trust"] { spec.trust = try t.enumeration(ClientTrust.self, [.factoryCA, .pinnedServerCertificate, .none]) }
        if let n = o["server-name"] { c.serverName = try n.string() }
        if let h = o["helo"] { c.heloName = try h.string() }
        if let b = o["pipelining"] {
            // `always`: pipeline even where PIPELINING is not offered.
            if b.isScalar, try b.string() == "always" { c.pipelinesRegardless = true } else { c.usePipelining = try b.bool() }
        }
        if let b = o["skip-quit"] { c.skipsQuit = try b.bool() }
        if let b = o["plaintext-retry-after-tls-failure"] {
            c.plaintextRetryAfterTLSFailure = try b.bool()
            guard case .opportunistic = c.policy else { throw b.error("a plaintext retry after a TLS failure is an opportunistic policy's choice (policy: opportunistic)") }
        }
        c.rules = try o["rules"]?.list().map { x throws(ScenarioError) in try readClientRule(x) } ?? []
        if let b = o["chunking"] { c.useChunking = try b.bool() }
        if let n = o["chunk-size"] { c.bdatChunkSize = try n.int(in: 1...10_485_760) }
        if let b = o["helo-fallback"] { c.allowHELOFallback = try b.bool() }
        if let l = o["line-endings"] { c.lineEndings = try l.enumeration(DotStuffer.LineEndingPolicy.self, DotStuffer.LineEndingPolicy.allCases) }
        if let a = o["auth"] {
            let ao = try a.object(["user", "password", "mechanisms"])
            var cred = Credentials(username: try ao.required("user").string(), password: try ao.required("password").string())
            if let m = ao["mechanisms"] { cred.mechanisms = try m.list().map { x throws(ScenarioError) in try x.string().uppercased() } }
            c.credentials = cred
        }
        if let rt = o["retries"] {
            let ro = try rt.object(["delay", "max"])
            c.retry = RetryPolicy(delay: try ro["delay"]?.duration() ?? c.retry.delay, maximumAttempts: try ro["max"]?.int(in: 1...1000) ?? c.retry.maximumAttempts)
        }
        if let f = o["flaws"] { c.flaws = Set(try f.list().map { x throws(ScenarioError) in try x.enumeration(ClientFlaw.self, ClientFlaw.allCases) }) }
        if let t = o["connect-at"] { spec.connectAt = try t.duration() }
        if let t = o["timeouts"] {
            let to = try t.object(["greeting", "command", "tls-handshake", "mail-rcpt", "data-initiation", "data-termination"])
            if let v = to["greeting"] { c.timeouts.greeting = try v.duration() }
            if let v = to["command"] { c.timeouts.command = try v.duration() }
            if let v = to["tls-handshake"] { c.timeouts.tlsHandshake = try v.duration() }
            if let v = to["mail-rcpt"] { c.timeouts.mailOrRcpt = try v.duration() }
            if let v = to["data-initiation"] { c.timeouts.dataInitiation = try v.duration() }
            if let v = to["data-termination"] { c.timeouts.dataTermination = try v.duration() }
        }
        let messages = try o["messages"]?.list() ?? []
        spec.messages = try messages.enumerated().map { (i, m) throws(ScenarioError) in try readMessage(m, id: "c\(index + 1).m\(i + 1)") }
        // A scripted client names the messages it means to send with `intended` (for the oracles).
        if let intended = o["intended"] {
            spec.messages = try intended.list().enumerated().map { (i, m) throws(ScenarioError) in try readMessage(m, id: "c\(index + 1).m\(i + 1)") }
        }
        let security = try readClientSecurity(o, into: &c)
        spec.configuration = c
        // A scripted client under implicit TLS starts TLS before its first step (RFC 8314 §3).
        let script = try o["script"].map { x throws(ScenarioError) in (security == .implicitTLS ? [.startTLS] : []) + (try readScript(x)) }
        if script == nil && spec.messages.isEmpty && !forwarding { throw r.error("a client needs messages (or a script)") }
        return (spec, script)
    }

    /// `security` (RFC 3207, RFC 8314 §3): STARTTLS as the policy says (the default), implicit
    /// TLS, or none (the plaintext policy), and the keys that would contradict it.
    static func readClientSecurity(_ o: YAMLObject, into c: inout ClientConfiguration) throws(ScenarioError) -> ConnectionSecurity {
        guard let v = o["security"] else { return .startTLS }
        let security = try v.enumeration(ConnectionSecurity.self, ConnectionSecurity.allCases)
        func contradicts(_ key: String, _ why: String) throws(ScenarioError) {
            if let k = o[key] { throw k.error("'\(key)' contradicts 'security: \(security.rawValue)': \(why)") }
        }
        switch security {
        case .startTLS:
            if case .plaintext = c.policy { try contradicts("policy", "a client that never asks for TLS is 'security: none'") }
        case .implicitTLS:
            if case .plaintext = c.policy { try contradicts("policy", "an implicit-TLS client is always in TLS; its policy says what an unverified certificate means") }
            try contradicts("plaintext-retry-after-tls-failure", "an implicit-TLS client never speaks in the clear (RFC 8314 §3)")
            c.implicitTLS = true
        case .none:
            if o.has("policy"), c.policy != .plaintext { try contradicts("policy", "a client without TLS has the plaintext policy") }
            try contradicts("plaintext-retry-after-tls-failure", "a client without TLS has nothing to retry without")
            c.policy = .plaintext
        }
        return security
    }

    static func readPolicy(_ r: YAMLReader) throws(ScenarioError) -> TLSPolicy {
        if r.isScalar {
            switch try r.string() {
            case "plaintext": return .plaintext
            case "opportunistic": return .opportunistic
            case "required": return .required
            case "pinned": return .pinned
            case let other:
                throw r.error("unknown policy '\(other)'; expected plaintext, opportunistic, required, pinned or {mta-sts: …}",
                              suggestion: closest(other, among: ["plaintext", "opportunistic", "required", "pinned"]))
            }
        }
        let o = try r.object(["mta-sts"])
        let m = try o.required("mta-sts").object(["mode", "mx"])
        let mode = try m.required("mode").enumeration(MTASTSPolicy.Mode.self, [.enforce, .testing, .none])
        return .mtaSTS(MTASTSPolicy(mode: mode, mxPatterns: try m.required("mx").list().map { x throws(ScenarioError) in try x.string() }))
    }

    static func readMessage(_ r: YAMLReader, id: String) throws(ScenarioError) -> OutgoingMessage {
        let o = try r.object(["id", "from", "to", "body", "body-raw", "size", "smtputf8", "requiretls"])
        let fromText = try o.required("from").string()
        let from: ReversePath
        if fromText == "<>" || fromText.isEmpty {
            from = .null
        } else {
            do { from = .mailbox(try Mailbox(fromText, allowUTF8: true)) } catch { throw try o.required("from").error("not a mailbox: \(error.detail)") }
        }
        var to: [ForwardPath] = []
        for t in try o.required("to").listOrOne() {
            let text = try t.string()
            if text.lowercased() == "postmaster" { to.append(.postmaster); continue }
            do { to.append(.mailbox(try Mailbox(text, allowUTF8: true))) } catch { throw t.error("not a mailbox: \(error.detail)") }
        }
        guard !to.isEmpty else { throw try o.required("to").error("a message needs at least one recipient") }
        var body: [UInt8] = []
        if let b = o["body"] {
            // Block text: each line ends in CRLF on the wire (YAML gives LF).
            body = Array(try b.string().replacingLF().utf8)
        }
        if let raw = o["body-raw"] {
            if o.has("body") { throw raw.error("give either 'body' or 'body-raw', not both") }
            body = Array(try raw.string().utf8)
        }
        var params = MailParameters()
        if let s = o["size"] { params.size = try s.uint64() }
        if let b = o["smtputf8"], try b.bool() { params.smtpUTF8 = true }
        if let b = o["requiretls"], try b.bool() { params.requireTLS = true }
        return OutgoingMessage(id: try o["id"]?.string() ?? id, from: from, to: to, body: body, parameters: params)
    }

    // MARK: - Scripts

    static func readScript(_ r: YAMLReader) throws(ScenarioError) -> [ScriptStep] {
        try r.list().map { item throws(ScenarioError) in
            let keys = ["send", "send-line", "expect", "expect-close", "expect-nothing", "start-tls", "close-notify", "alert", "pause", "close"]
            let (key, value) = try item.tagged(keys)
            switch key {
            case "send": return .send(try need(value, item, key).string())
            case "send-line": return .sendLine(try need(value, item, key).string())
            case "expect":
                let v = try need(value, item, key)
                if v.isScalar { return .expect(try v.string()) }
                let o = try v.object(["reply", "advertises", "withholds"])
                func words(_ k: String) throws(ScenarioError) -> [String] {
                    try (o[k]?.listOrOne() ?? []).map { x throws(ScenarioError) in try x.string() }
                }
                return .expectReply(code: try o.required("reply").string(), advertises: try words("advertises"), withholds: try words("withholds"))
            case "expect-close": return .expectClose
            case "expect-nothing": return .expectNothing(try need(value, item, key).duration())
            case "start-tls": return .startTLS
            case "close-notify": return .closeNotify
            case "alert": return .alert(try need(value, item, key).enumeration(TLSSessionAlert.self, TLSSessionAlert.allCases))
            case "pause": return .pause(try need(value, item, key).duration())
            default: return .close
            }
        }
    }

    static func need(_ value: YAMLReader?, _ item: YAMLReader, _ key: String) throws(ScenarioError) -> YAMLReader {
        guard let value else { throw item.error("'\(key)' needs a value") }
        return value
    }

    // MARK: - Expectations

    static func readExpectations(_ r: YAMLReader) throws(ScenarioError) -> Expectations {
        let o = try r.object(["messages", "recipients", "accepted", "relayed", "duplicates", "accepted-bodies", "replies-seen", "commands-seen", "tls-result", "over-tls", "not-applicable",
                              "findings", "trace-contains", "trace-lacks"])
        var e = Expectations()
        if let m = o["messages"] {
            e.messages = try m.listOrOne().map { x throws(ScenarioError) in
                try x.enumeration(Expectations.MessageStatus.self, Expectations.MessageStatus.allCases)
            }
        }
        if let m = o["recipients"] {
            // {bob@example.net: delivered, carol@example.net: temporary-failure}
            e.recipients = try m.keyed().map { (key, value) throws(ScenarioError) in
                Expectations.RecipientStatus(address: key, status: try value.enumeration(Expectations.MessageStatus.self, Expectations.MessageStatus.allCases))
            }
        }
        if let a = o["accepted"] { e.accepted = try a.int(in: 0...1_000_000) }
        if let a = o["relayed"] { e.relayed = try a.int(in: 0...1_000_000) }
        if let d = o["duplicates"] { e.duplicates = try d.enumeration(Expectations.Duplicates.self, [.none, .atMostOne]) }
        if let t = o["tls-result"] { e.tlsResult = try t.enumeration(TLSResultType.self, TLSResultType.allCases) }
        if let n = o["not-applicable"] {
            let plaintextOnly = AttackKind.allCases.filter(\.needsPlaintextPhase)
            e.notApplicable = try n.listOrOne().map { x throws(ScenarioError) in
                let kind = try x.enumeration(AttackKind.self, plaintextOnly)
                guard kind.needsPlaintextPhase else { throw x.error("'\(kind.rawValue)' works inside TLS and applies to implicit TLS too") }
                return kind.rawValue
            }
        }
        if let b = o["accepted-bodies"] { e.acceptedBodies = try b.listOrOne().map { x throws(ScenarioError) in Array(try x.string().replacingLF().utf8) } }
        func texts(_ r: YAMLReader?) throws(ScenarioError) -> [String] { try r?.listOrOne().map { x throws(ScenarioError) in try x.string() } ?? [] }
        if let r = o["replies-seen"] {
            if r.node.mapping != nil {
                // {received: [...], written: [...]}: what the client read, what the server wrote.
                let seen = try r.object(["received", "written"])
                e.repliesSeen = try texts(seen["received"])
                e.repliesWritten = try texts(seen["written"])
            } else {
                e.repliesSeen = try texts(r)
            }
        }
        e.commandsSeen = try texts(o["commands-seen"])
        if let b = o["over-tls"] { e.overTLS = try b.bool() }
        func oracles(_ r: YAMLReader?) throws(ScenarioError) -> [Oracle] {
            try r?.listOrOne().map { x throws(ScenarioError) in try x.enumeration(Oracle.self, Oracle.allCases) } ?? []
        }
        if let f = o["findings"] {
            if f.node.mapping != nil {
                // {client: [...], server: [...], run: [...]}: who is at fault; a side not given has none.
                // {within: [...]}: only these may fire.
                let sides = try f.object(["client", "server", "run", "within"])
                if let within = sides["within"] {
                    guard sides.entries.count == 1 else { throw f.error("'within' stands alone: give it or the sides") }
                    e.findings = .within(try oracles(within))
                } else {
                    e.findings = .bySide(client: try oracles(sides["client"]), server: try oracles(sides["server"]), run: try oracles(sides["run"]))
                }
            } else if f.isScalar {
                switch try f.string() {
                case "none": e.findings = .none
                case "any": e.findings = .any
                default: e.findings = .exactly([try f.enumeration(Oracle.self, Oracle.allCases)])
                }
            } else {
                e.findings = .exactly(try f.list().map { x throws(ScenarioError) in try x.enumeration(Oracle.self, Oracle.allCases) })
            }
        }
        e.traceContains = try texts(o["trace-contains"])
        e.traceLacks = try texts(o["trace-lacks"])
        return e
    }
}

extension String {
    /// LF line ends made CRLF (a CRLF already there stays).
    func replacingLF() -> String {
        var out = ""
        var previous: Character?
        for ch in self {
            if ch == "\n", previous != "\r" { out += "\r\n" } else { out.append(ch) }
            previous = ch
        }
        return out
    }
}
