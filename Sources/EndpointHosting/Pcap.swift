/// Writes connections as a pcap file (a simulated run's trace, a real session's record): synthetic Ethernet/IPv4/TCP with consistent sequence
/// numbers, one TCP stream per connection, so Wireshark and tshark follow each stream, dissect
/// SMTP and STARTTLS, and — given the NSS key log — decrypt the TLS part.
///
/// Addresses come from the documentation ranges (RFC 5737): clients 192.0.2.x, the server
/// 198.51.100.25; the server port is 25 (587 with `submissionPort`).
public struct PcapWriter {
    public var serverPort: UInt16 = 25
    /// Unix seconds of the run's start (the trace's time zero).
    public var epoch: Int64

    public init(epoch: Int64, serverPort: UInt16 = 25) {
        self.epoch = epoch
        self.serverPort = serverPort
    }

    private struct Stream {
        var clientSeq: UInt32
        var serverSeq: UInt32
        var clientPort: UInt16
        var closed = false
    }

    /// What a pcap shows of a connection (`id` numbers it): its opening, a segment of octets
    /// one side put on the wire (`time` in nanoseconds since the start), its end.
    public enum Event: Sendable {
        case open(id: Int, time: Int64)
        case segment(id: Int, time: Int64, fromClient: Bool, bytes: [UInt8])
        /// A FIN from that side, or a reset.
        case close(id: Int, time: Int64, fromClient: Bool, reset: Bool)
    }

    public func pcap(_ events: [Event]) -> [UInt8] {
        var out: [UInt8] = []
        // Global header: magic, v2.4, GMT offset 0, accuracy 0, snaplen, LINKTYPE_ETHERNET.
        out += le32(0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(262_144) + le32(1)
        var streams: [Int: Stream] = [:]  // looked up by connection id only; never iterated
        for event in events {
            switch event {
            case .open(let id, let time):
                var s = Stream(clientSeq: 1000 &* UInt32(id), serverSeq: 5000 &* UInt32(id), clientPort: 40000 &+ UInt16(truncatingIfNeeded: id))
                packet(&out, time, id, s, fromClient: true, flags: 0x02, payload: [])  // SYN
                s.clientSeq &+= 1
                packet(&out, time, id, s, fromClient: false, flags: 0x12, payload: [])  // SYN-ACK
                s.serverSeq &+= 1
                packet(&out, time, id, s, fromClient: true, flags: 0x10, payload: [])  // ACK
                streams[id] = s
            case .segment(let id, let time, let fromClient, let bytes):
                guard var s = streams[id], !s.closed else { continue }
                var offset = 0
                while offset < bytes.count {
                    let chunk = Array(bytes[offset..<min(bytes.count, offset + 1400)])
                    packet(&out, time, id, s, fromClient: fromClient, flags: 0x18, payload: chunk)  // PSH ACK
                    if fromClient { s.clientSeq &+= UInt32(chunk.count) } else { s.serverSeq &+= UInt32(chunk.count) }
                    offset += chunk.count
                }
                streams[id] = s
            case .close(let id, let time, let fromClient, let reset):
                guard var s = streams[id], !s.closed else { continue }
                if reset {
                    packet(&out, time, id, s, fromClient: fromClient, flags: 0x14, payload: [])  // RST ACK
                    s.closed = true
                } else {
                    packet(&out, time, id, s, fromClient: fromClient, flags: 0x11, payload: [])  // FIN ACK
                    if fromClient { s.clientSeq &+= 1 } else { s.serverSeq &+= 1 }
                }
                streams[id] = s
            }
        }
        return out
    }

    private func packet(_ out: inout [UInt8], _ time: Int64, _ id: Int, _ s: Stream, fromClient: Bool, flags: UInt8, payload: [UInt8]) {
        let clientIP: [UInt8] = [192, 0, 2, UInt8(truncatingIfNeeded: 1 + (id - 1) % 250)]
        let serverIP: [UInt8] = [198, 51, 100, 25]
        let (srcIP, dstIP) = fromClient ? (clientIP, serverIP) : (serverIP, clientIP)
        let (srcPort, dstPort) = fromClient ? (s.clientPort, serverPort) : (serverPort, s.clientPort)
        let seq = fromClient ? s.clientSeq : s.serverSeq
        let ack = fromClient ? s.serverSeq : s.clientSeq
        var tcp: [UInt8] = be16(srcPort) + be16(dstPort) + be32(seq) + be32(flags == 0x02 ? 0 : ack)
        tcp += [0x50, flags] + be16(65535) + [0, 0, 0, 0]  // offset 5 words, window, checksum, urgent
        tcp += payload
        let pseudo = srcIP + dstIP + [0, 6] + be16(UInt16(tcp.count))
        let tcpSum = checksum(pseudo + tcp)
        tcp[16] = UInt8(tcpSum >> 8)
        tcp[17] = UInt8(tcpSum & 0xFF)
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + tcp.count)) + [0, 0, 0x40, 0, 64, 6, 0, 0] + srcIP + dstIP
        let ipSum = checksum(ip)
        ip[10] = UInt8(ipSum >> 8)
        ip[11] = UInt8(ipSum & 0xFF)
        let macClient: [UInt8] = [0x02, 0, 0, 0, 0, 0x01], macServer: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
        let frame = (fromClient ? macServer + macClient : macClient + macServer) + [0x08, 0x00] + ip + tcp
        let seconds = epoch + time / 1_000_000_000
        let micros = (time % 1_000_000_000) / 1000
        out += le32(UInt32(truncatingIfNeeded: seconds)) + le32(UInt32(micros)) + le32(UInt32(frame.count)) + le32(UInt32(frame.count))
        out += frame
    }

    private func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    private func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}
