/// TLS records at the front of a stream (RFC 8446 §5.1: a content type 20–23, a version 3.x, a
/// two-octet length), for a peer that ended its session and then reads on in the clear: the other
/// side's close_notify or alert still arrives as a record, and only what follows it is cleartext.
public enum TLSRecords {
    public static let headerLength = 5
    /// Content types (RFC 8446 §5.1): a ClientHello opens with a handshake record; application
    /// data travels in the other.
    public static let handshake: UInt8 = 0x16, applicationData: UInt8 = 0x17

    /// How many whole records open `bytes`, where the cleartext after them starts, and whether
    /// what follows them is the start of a record not yet complete (wait for more).
    public static func leading(_ bytes: some RandomAccessCollection<UInt8>) -> (records: Int, end: Int, incomplete: Bool) {
        var i = 0
        var records = 0
        let b = Array(bytes)
        while i < b.count, (20...23).contains(b[i]) {
            guard i + 1 < b.count else { return (records, i, true) }
            guard b[i + 1] == 3 else { break }
            guard i + headerLength <= b.count else { return (records, i, true) }
            let length = Int(b[i + 3]) << 8 | Int(b[i + 4])
            guard i + headerLength + length <= b.count else { return (records, i, true) }
            i += headerLength + length
            records += 1
        }
        return (records, i, false)
    }
}
