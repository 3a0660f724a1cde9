import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// Nothing received before the handshake is acted on after it: inside TLS, a side that writes
/// before hearing anything inside TLS acted on plaintext from before (CVE-2011-0411 on a server;
/// response injection on a client, docs/catalog.md D1–D3; RFC 3207 §4.2).
struct TLSBoundaryOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        let host = c.host(side)
        guard host.tlsEstablished, host.receivedInTLS == 0 else { return }
        switch side {
        case .server:
            world.flag(c, .tlsBoundary, "the server wrote \(TraceEvent.preview(Array(bytes.prefix(40)), 0)) inside TLS before receiving anything inside TLS: it acted on bytes that arrived before the handshake",
                       "RFC 3207 §4.2; CVE-2011-0411")
        case .client:
            guard host.writesInTLS >= 1 else { return }
            world.flag(c, .tlsBoundary, "the client sent a second command inside TLS before receiving anything inside TLS: it acted on replies from before the handshake",
                       "RFC 3207 §4.2; docs/catalog.md D3 (response injection)")
        }
    }
}
