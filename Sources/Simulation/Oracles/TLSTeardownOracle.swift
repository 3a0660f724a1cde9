import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// After a TLS session ends on a connection (close_notify or a fatal alert, from either side),
/// no endpoint acts on a later octet of it and none sends application data in the clear: a
/// side that writes in the clear after its session ended went back to reading plaintext (the
/// Dead.Letter class on a server, CVE-2026-45185; libetpan issue 386 on a client). A reply, a
/// 250 for a message whose data the teardown cut, a QUIT: each is such a write
/// (docs/catalog.md I; RFC 8446 §6.1, RFC 3207 §4.2). A side that ended its own session and
/// went on in the clear on purpose (a script's `close-notify` step) is probing its peer and is
/// not judged for it (`EndpointHost.inClearAfterOwnEnd`).
struct TLSTeardownOracle: RunOracle {
    static let reference = "CVE-2026-45185; RFC 8446 §6.1; RFC 3207 §4.2; docs/catalog.md I"

    /// A side was handed octets that came after its TLS session ended: it read the stream in the
    /// clear (whatever it then does with them, the reading is the flaw).
    func read(_ c: Connection, _ side: Side, in world: World) {
        let host = c.host(side)
        guard host.deliveredAfterTLSEnd > 0, !host.inClearAfterOwnEnd, let end = host.tlsEnd, c.readAfterTLSEndReported.insert(side).inserted else { return }
        let state = c.stateAtTLSEnd[side].map { " \($0)" } ?? ""
        world.flag(c, .tlsTeardown, side,
                   "the \(side.rawValue) read \(host.deliveredAfterTLSEnd) octets in the clear after its TLS session ended (\(end))\(state) instead of ending the connection",
                   Self.reference)
    }

    func observe(_ c: Connection, _ side: Side, _ bytes: [UInt8], _ step: TriggerTracker.ClientStep?, in world: World) {
        let host = c.host(side)
        guard host.epoch == 2, !host.inClearAfterOwnEnd, let end = host.tlsEnd else { return }
        let read = host.deliveredAfterTLSEnd > 0 ? ", after reading \(host.deliveredAfterTLSEnd) octets that came after it," : ""
        let state = c.stateAtTLSEnd[side].map { " \($0)" } ?? ""
        world.flag(c, .tlsTeardown, side,
                   "the \(side.rawValue) wrote \(TraceEvent.preview(Array(bytes.prefix(40)), 0)) in the clear after its TLS session ended (\(end))\(state)\(read) instead of ending the connection",
                   Self.reference)
    }
}
