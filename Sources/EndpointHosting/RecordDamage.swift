/// What the `tls-bad-record` and `tls-truncated-record` faults do to the next TLS record a side
/// sends (docs/catalog.md I): the simulator's links and the proxy's sockets both apply it.
public enum RecordDamage: Hashable, Sendable {
    /// One octet flips: the last of the first record, in its authentication tag (RFC 8446
    /// §5.2), so the peer's MAC check fails.
    case flip
    /// The first record is cut to half its body; the stream ends after it.
    case truncate

    public var kind: FaultKind { self == .flip ? .tlsBadRecord : .tlsTruncatedRecord }

    /// Damages the first record in `bytes`; what it did, or nil when `bytes` holds no record.
    public func apply(to bytes: inout [UInt8]) -> String? {
        guard bytes.count > 5 else { return nil }
        let length = Int(bytes[3]) << 8 | Int(bytes[4])
        let recordEnd = min(bytes.count, 5 + length)
        switch self {
        case .flip:
            bytes[recordEnd - 1] ^= 0x01
            return "record: octet \(recordEnd - 1) flipped"
        case .truncate:
            let keep = 5 + max(1, (recordEnd - 5) / 2)
            bytes = Array(bytes.prefix(keep))
            return "record cut to \(keep) of \(recordEnd) octets, then FIN"
        }
    }
}
