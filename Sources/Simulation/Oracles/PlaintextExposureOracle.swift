import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// No AUTH, envelope or message byte in plaintext (or to an unverified peer) under a policy that
/// requires verified TLS; credentials never in plaintext under any policy; no plaintext password
/// mechanism offered before TLS (docs/catalog.md B1, C1, H6).
struct PlaintextExposureOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        let host = c.host(side)
        switch side {
        case .server:
            if host.epoch == 0, bytes.starts(with: World.multiline250), World.find(bytes, World.authKeyword), let caps = World.firstEHLO(bytes),
                caps.authMechanisms.contains(where: { ["PLAIN", "LOGIN"].contains($0) })
            {
                world.flag(c, .plaintextExposure, .server, "the server offers a plaintext password mechanism (AUTH \(caps.authMechanisms.joined(separator: " "))) before TLS",
                           "RFC 4954 §4 note; docs/catalog.md H6")
            }
        case .client:
            guard host.epoch == 0 || (host.tlsEstablished && !host.peerVerified) else { return }
            let demands = world.clientPrograms.indices.contains(c.client) && world.clientPrograms[c.client].policy.demandsVerifiedTLS
            // One finding per write: a pipelined MAIL, RCPT, DATA is one exposure.
            var exposed: [String] = []
            // A line answering an AUTH challenge is a credential (RFC 4954 §4), unless it cancels.
            if let responses = step?.saslResponses, responses.contains(where: { !$0.elementsEqual([0x2A]) }) {
                world.flag(c, .plaintextExposure, .client, "the client sent credentials (its answer to an AUTH challenge) \(host.epoch == 0 ? "in plaintext" : "to an unverified TLS peer")",
                           "RFC 4954 §4 note, §15; docs/catalog.md H6")
            }
            for line in step?.commands ?? [] {
                let verb = String(decoding: line.prefix(4), as: UTF8.self).uppercased()
                if verb == "AUTH", line.split(separator: 0x20).count > 2 || String(decoding: line, as: UTF8.self).uppercased().hasPrefix("AUTH LOGIN") {
                    world.flag(c, .plaintextExposure, .client, "the client sent credentials \(host.epoch == 0 ? "in plaintext" : "to an unverified TLS peer")",
                               "RFC 4954 §4 note, §15; docs/catalog.md H6")
                }
                if demands, ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"].contains(verb), !exposed.contains(verb) { exposed.append(verb) }
            }
            if !exposed.isEmpty {
                world.flag(c, .plaintextExposure, .client,
                           "\(exposed.joined(separator: ", ")) sent \(host.epoch == 0 ? "in plaintext" : "over TLS with an unverified certificate") under a policy that requires verified TLS",
                           "RFC 3207 §6; RFC 8461 §5; docs/catalog.md B1/C1")
            }
        }
    }
}
