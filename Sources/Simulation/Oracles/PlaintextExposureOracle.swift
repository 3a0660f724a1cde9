import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// No AUTH, envelope or message byte in plaintext (or to an unverified peer) under a policy that
/// requires verified TLS; credentials never in plaintext under any policy; no plaintext password
/// mechanism offered before TLS; no session carried on in the clear after a 220 to STARTTLS
/// (docs/catalog.md B1, C1, H6). The rules are `SessionJudge`'s, the same on real sockets: a
/// judge of each side per connection, fed every write.
struct PlaintextExposureOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        let host = c.host(side)
        let state = SessionJudge.WriterState(epoch: host.epoch, unverifiedTLS: host.tlsEstablished && !host.peerVerified)
        // Each side's judge needs only that side's writes (the client's, the 220 as it read it).
        for v in c.judges[side == .client ? 0 : 1].wrote(bytes, by: side, state, step: step) {
            world.flag(c, v.oracle, v.side, v.explanation, v.reference)
        }
    }
}
