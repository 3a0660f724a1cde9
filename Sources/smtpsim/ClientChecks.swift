import EndpointHosting
import SMTPNet
import SMTPTLS
import Scenario
import Simulation

/// The checks of `smtpsim probe --client`, in the order they run (docs/catalog.md ids): each the
/// server side as a scenario file's `server` (and `faults`) section, loaded by the scenario loader
/// as `serve --scenario` loads a file, and what a client under each policy must do there.
enum ClientChecks {
    typealias Requirement = ClientProbe.Requirement

    struct Entry {
        var id: String
        var name: String
        var summary: String
        /// The scenario text under `server:` (indented by the table) and any `faults:`.
        var server: String
        var faults: String = ""
        var required: [Requirement]
        var opportunistic: [Requirement]
        /// What an opportunistic client should do (a warning when it does not).
        var opportunisticPrefers: [Requirement] = []
        var needs: [String] = []
        var message: [UInt8]?
        var rcpt: String?
        var from: String?
        /// Where the check applies: a STARTTLS client, an implicit-TLS one (RFC 8314 §3), or both
        /// (its server then speaks the client's kind of TLS).
        var applies: Applies = .both
    }

    enum Applies {
        case both
        /// The check is about the STARTTLS upgrade or the plaintext before it.
        case startTLSOnly
        /// The check is about a client configured for implicit TLS.
        case implicitOnly
    }

    /// The server every check starts from: the factory certificate for localhost, AUTH for the
    /// probe's user inside TLS.
    static let base = """
          hostname: localhost
          auth: {mechanisms: [PLAIN, LOGIN], users: {alice: secret}}
        """

    /// A message that only arrives unchanged when the client dot-stuffs and sends CRLF line ends.
    static let transparencyMessage = Array("From: <probe@smtpsim.test>\r\nSubject: transparency\r\n\r\n.a line that starts with a dot\r\nA line that ends in a bare LF\nThe end.\r\n".utf8)

    static let entries: [Entry] = [
        Entry(id: "A1", name: "control", summary: "a correct server with a certificate the factory CA verifies: the client must deliver inside TLS",
              server: "", required: [.deliversOverTLS], opportunistic: [.deliversOverTLS]),
        Entry(id: "B1", name: "starttls-withheld", summary: "the EHLO reply offers no STARTTLS (as when an attacker deletes the line)",
              server: "  extensions: [PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES]\n  tls-available: false",
              required: [], opportunistic: [], opportunisticPrefers: [.delivers], applies: .startTLSOnly),
        Entry(id: "B2", name: "starttls-454", summary: "STARTTLS offered, answered 454 4.7.0",
              server: "  rules:\n    - {at: STARTTLS, reply: \"454 4.7.0 TLS not available\", act: false}",
              required: [], opportunistic: [], opportunisticPrefers: [.delivers], applies: .startTLSOnly),
        Entry(id: "B2", name: "starttls-502", summary: "STARTTLS offered, answered 502 5.5.1",
              server: "  rules:\n    - {at: STARTTLS, reply: \"502 5.5.1 not implemented\", act: false}",
              required: [], opportunistic: [], opportunisticPrefers: [.delivers], applies: .startTLSOnly),
        Entry(id: "B2", name: "starttls-530", summary: "STARTTLS offered, answered 530 5.7.0",
              server: "  rules:\n    - {at: STARTTLS, reply: \"530 5.7.0 not now\", act: false}",
              required: [], opportunistic: [], opportunisticPrefers: [.delivers], applies: .startTLSOnly),
        Entry(id: "B4", name: "starttls-220-without-tls", summary: "STARTTLS answered 220, then the server goes on in plaintext instead of a ServerHello",
              server: "  rules:\n    - {at: STARTTLS, reply: \"220 2.0.0 Ready to start TLS\", act: false}",
              required: [], opportunistic: [], applies: .startTLSOnly),
        Entry(id: "H6", name: "auth-offered-before-tls", summary: "AUTH PLAIN and LOGIN offered before TLS as well as STARTTLS",
              server: "  flaws: [offers-auth-plain-before-tls]", required: [.deliversOverTLS], opportunistic: [.delivers], needs: ["{user}"], applies: .startTLSOnly),
        Entry(id: "D3", name: "replies-injected-behind-the-220", summary: "the 220 to STARTTLS comes with two more reply lines in the same segment, and the first reply inside TLS is 1 s late: a client must discard what came before the handshake (or give up)",
              server: "  rules:\n    - {at: STARTTLS, reply: [\"220 2.0.0 Ready to start TLS\", \"250-evil.example\", \"250 PIPELINING\"]}",
              faults: "  - stall: {for: 1s, at: {server-writes: \"250-localhost\", epoch: 1}}",
              required: [.inStepInsideTLS], opportunistic: [.inStepInsideTLS], applies: .startTLSOnly),
        Entry(id: "B1", name: "implicit-tls-withheld", summary: "the listener speaks SMTP in the clear (a STARTTLS or plaintext service) where the client expects implicit TLS: it must send nothing in the clear (RFC 8314 §3)",
              server: "  security: starttls", required: [], opportunistic: [], applies: .implicitOnly),
        Entry(id: "C1", name: "certificate-untrusted-ca", summary: "a certificate from a CA the client was not given",
              server: "  certificate: untrusted-ca", required: [], opportunistic: [], opportunisticPrefers: [.delivers]),
        Entry(id: "C1", name: "certificate-self-signed", summary: "a self-signed certificate",
              server: "  certificate: self-signed", required: [], opportunistic: [], opportunisticPrefers: [.delivers]),
        Entry(id: "C2", name: "certificate-wrong-host", summary: "a certificate for another host name",
              server: "  certificate: wrong-host", required: [], opportunistic: [], opportunisticPrefers: [.delivers]),
        Entry(id: "C3", name: "certificate-expired", summary: "an expired certificate",
              server: "  certificate: expired", required: [], opportunistic: [], opportunisticPrefers: [.delivers]),
        Entry(id: "D4", name: "capabilities-change-after-tls", summary: "CHUNKING offered before TLS only: inside TLS the client must use the new EHLO reply",
              server: "  extensions: [STARTTLS, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING]\n  extensions-after-tls: [PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES]",
              required: [.capabilitiesFromAfterTLS, .deliversOverTLS], opportunistic: [.capabilitiesFromAfterTLS, .deliversOverTLS], applies: .startTLSOnly),
        Entry(id: "I8", name: "close-notify-then-cleartext-reply", summary: "the server refuses the message (451) but its TLS sends close_notify instead, then a cleartext 250: a client that reads on in the clear says it was delivered",
              server: "  rules:\n    - {at: end-of-data, reply: \"451 4.3.0 try again later\"}",
              faults: "  - tls-close-notify: {from: server, at: {server-writes: \"451 4.3.0\", cut: before-match}, then-plaintext: \"250 2.0.0 queued\\r\\n\"}",
              required: [], opportunistic: []),
        Entry(id: "E2", name: "421-mid-transaction", summary: "DATA (or BDAT) answered 421 and the connection closed: the client must not say the message was delivered",
              server: "  rules:\n    - {at: DATA, reply: \"421 4.3.2 shutting down\", close: true}\n    - {at: BDAT, reply: \"421 4.3.2 shutting down\", close: true}", required: [], opportunistic: []),
        Entry(id: "F7", name: "451-to-one-recipient", summary: "the second recipient answered 451 4.3.0: the client may send to the first or give up, but must not exit 0 as if both had it",
              server: "  rules:\n    - {at: RCPT, pattern: \"RCPT TO:<deferred@*\", reply: \"451 4.3.0 try later\"}",
              required: [], opportunistic: [], needs: ["{rcpt2}"]),
        Entry(id: "G1", name: "message-transparency", summary: "a message with a line starting with a dot and a bare LF: it must arrive as written, line ends made CRLF",
              server: "  reject-bare-line-endings: false", required: [.unchangedMessage, .deliversOverTLS], opportunistic: [.unchangedMessage, .delivers],
              message: transparencyMessage),
        Entry(id: "F3", name: "crlf-in-recipient", summary: "{rcpt} carries CRLF and a command of its own: the client must refuse or escape it, never send it as it is",
              server: "", required: [.onlyItsOwnCommands], opportunistic: [.onlyItsOwnCommands], needs: ["{rcpt}"],
              rcpt: "rcpt@smtpsim.test>\r\n\(ClientProbe.injectedCommand)\r\nRCPT TO:<rcpt@smtpsim.test"),
        Entry(id: "F3", name: "crlf-in-sender", summary: "{from} carries CRLF and a command of its own: the client must refuse or escape it, never send it as it is",
              server: "", required: [.onlyItsOwnCommands], opportunistic: [.onlyItsOwnCommands], needs: ["{from}"],
              from: "probe@smtpsim.test>\r\n\(ClientProbe.injectedCommand)\r\nMAIL FROM:<probe@smtpsim.test"),
    ]

    /// The checks as the probe runs them: each entry's server loaded from its scenario text.
    /// `implicitTLS`: for a client configured for implicit TLS (RFC 8314 §3): the checks of the
    /// upgrade are left out, and every other check's server speaks implicit TLS.
    static func checks(listen: HostPort, factory: CertificateFactory, only: Set<String>, implicitTLS: Bool = false) throws -> [ClientProbe.Check] {
        var out: [ClientProbe.Check] = []
        for entry in entries where only.isEmpty || only.contains(entry.id) || only.contains(entry.name) || entry.name == "control" {
            switch entry.applies {
            case .both: break
            case .startTLSOnly: if implicitTLS { continue }
            case .implicitOnly: if !implicitTLS { continue }
            }
            let security = implicitTLS && entry.applies == .both ? "  security: implicit-tls\n" : ""
            let text = "server:\n\(base)\n\(entry.server)\n\(security)" + (entry.faults.isEmpty ? "" : "faults:\n\(entry.faults)\n")
            let simulated = try ScenarioLoader.parseServerSide(text, file: "probe --client \(entry.name)")
            let identity = try Serve.factoryIdentity(factory, simulated.server, hostname: simulated.server.configuration.hostname, listen: listen)
            var server = NetServer(listen: listen, configuration: simulated.seededServerConfiguration, identity: identity)
            server.faultRules = simulated.faults
            server.limits = SessionLimits(sessionSeconds: 120)
            // The certificate does not verify against the factory CA the client is given.
            server.certificateUnverifiable = simulated.server.certificate != .valid
            server.clientExpectsImplicitTLS = implicitTLS
            out.append(ClientProbe.Check(
                id: entry.id, name: entry.name, summary: entry.summary, server: server,
                requires: [.required: entry.required, .opportunistic: entry.opportunistic], prefers: [.opportunistic: entry.opportunisticPrefers],
                needs: entry.needs, message: entry.message, isControl: entry.name == "control", rcpt: entry.rcpt, from: entry.from))
        }
        return out
    }
}
