import EndpointHosting

extension PcapWriter {
    /// A run's trace as a pcap: each connection's opening, the octets each side put on its
    /// link, and its end (a reset, or a side closing).
    public func pcap(_ trace: Trace) -> [UInt8] {
        var events: [Event] = []
        for event in trace.events where event.connection > 0 {
            let id = event.connection
            switch event.kind {
            case .connect: events.append(.open(id: id, time: event.time))
            case .sent(let direction, _, let bytes): events.append(.segment(id: id, time: event.time, fromClient: direction == .clientToServer, bytes: bytes))
            case .closed(let side, let detail):
                if detail == "connection reset" {
                    events.append(.close(id: id, time: event.time, fromClient: side == "client", reset: true))
                } else if detail.hasPrefix("closed") || detail.hasPrefix("after") || detail.hasPrefix("handshake") || detail.hasPrefix("TLS") {
                    events.append(.close(id: id, time: event.time, fromClient: side == "client", reset: false))
                }
            case .delivered, .plaintext, .received, .fault, .attack, .tls, .note, .outcome, .finding:
                continue
            }
        }
        return pcap(events)
    }
}
