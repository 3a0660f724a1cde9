import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// After STARTTLS both sides start over (RFC 3207 §4.2): no STARTTLS re-advertised inside TLS, no
/// AUTH mechanism used that the post-TLS EHLO did not offer (docs/catalog.md D4), no AUTH kept
/// from plaintext (session fixation, D5).
struct StateResetOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        guard c.host(side).tlsEstablished else { return }
        switch side {
        case .server:
            guard c.postTLSCapabilities == nil else { return }
            c.serverTLSText += bytes
            if let caps = SessionJudge.firstEHLO(c.serverTLSText) {
                c.postTLSCapabilities = caps
                c.serverTLSText = []
                if caps.startTLS { world.flag(c, .stateReset, .server, "the server advertised STARTTLS again inside TLS", "RFC 3207 §4.2") }
            }
        case .client:
            guard let caps = c.postTLSCapabilities else { return }
            for line in step?.commands ?? [] where line.count > 5 && String(decoding: line.prefix(5), as: UTF8.self).uppercased() == "AUTH " {
                let mechanism = line.dropFirst(5).split(separator: 0x20).first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
                if !caps.authMechanisms.contains(mechanism) {
                    world.flag(c, .stateReset, .client, "the client used AUTH \(mechanism), which the server did not offer inside TLS", "RFC 3207 §4.2; docs/catalog.md D4")
                }
            }
        }
    }

    /// A message accepted inside TLS as an AUTH identity needs an AUTH that succeeded inside TLS:
    /// anything else is knowledge kept from plaintext (session fixation, docs/catalog.md D5). Messages are
    /// tied to connections by their queue ID (`C<connection>.<n>`).
    func finish(outcomes: [MessageOutcome], accepted: [AcceptedMessage], in world: World) {
        for message in accepted where message.overTLS && message.authenticatedAs != nil {
            guard message.queueID.hasPrefix("C"), let id = Int(message.queueID.dropFirst().prefix { $0 != "." }),
                world.connections.indices.contains(id - 1)
            else { continue }
            let c = world.connections[id - 1]
            if !c.serverSent235InTLS {
                world.flag(c, .stateReset, .server, "message \(message.queueID) was accepted inside TLS as \(message.authenticatedAs!), but nobody authenticated inside TLS: the server kept AUTH from plaintext",
                     "RFC 3207 §4.2; docs/catalog.md D5")
            }
        }
    }

}
