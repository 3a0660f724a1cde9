/// Reads the octets of one BDAT chunk (RFC 3030 §2): exactly `size` octets follow the command's
/// CRLF, with no dot-stuffing and no end marker; what comes after them is the next command.
///
/// The reader never buffers: each `consume` hands back the slice of the input that belongs to the
/// chunk, so memory is the caller's choice (a server stores up to its message limit and counts the
/// rest). A chunk whose size is 0 is complete at once (`BDAT 0 LAST`, RFC 3030 §2).
public struct ChunkReader: Sendable {
    public let size: UInt64
    public let isLast: Bool
    public private(set) var received: UInt64 = 0

    public init(size: UInt64, last: Bool) {
        self.size = size
        self.isLast = last
    }

    public var remaining: UInt64 { size - received }
    public var isComplete: Bool { received == size }

    /// Takes the chunk's octets from the front of `bytes`. Returns them; the caller continues with
    /// `bytes[bytes.startIndex + result.count...]` once the chunk is complete.
    public mutating func consume(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let take = Int(min(UInt64(bytes.count), remaining))
        received += UInt64(take)
        return bytes.prefix(take)
    }
}
