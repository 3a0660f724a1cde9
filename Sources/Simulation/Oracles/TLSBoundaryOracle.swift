import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// Nothing received before the handshake is acted on after it: inside TLS, a side that writes
/// before hearing anything inside TLS acted on plaintext from before (CVE-2011-0411 on a server;
/// response injection on a client, docs/catalog.md D1–D3; RFC 3207 §4.2).
struct TLSBoundaryOracle: RunOracle {
    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        guard let why = c.host(side).writeBreaksTLSBoundary else { return }
        world.flag(c, .tlsBoundary, side, "\(why) (it wrote \(TraceEvent.preview(Array(bytes.prefix(40)), 0)))",
                   side == .server ? "RFC 3207 §4.2; CVE-2011-0411" : "RFC 3207 §4.2; docs/catalog.md D3 (response injection)")
    }
}
