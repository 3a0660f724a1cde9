/// Shared by every test target: the seeded generator and the three feeding modes of docs/design.md
/// rule 10. Tests never use the system generator, so every failure replays from its seed.

/// SplitMix64 (Steele, Lea, Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How bytes are cut into segments before a parser or machine sees them: whole, one byte at a
/// time, or seeded random splits. Every parser must give the same result for all of them.
public enum Feeding: Hashable, Sendable, CustomStringConvertible {
    case whole
    case byteByByte
    case randomSplits(seed: UInt64, maxSegment: Int = 17)

    /// Whole, byte by byte, and five seeded random split patterns.
    public static let all: [Feeding] = [.whole, .byteByByte] + (1...5).map { .randomSplits(seed: $0) }
    /// Whole, byte by byte, one random split pattern (for slower, whole-session tests).
    public static let three: [Feeding] = [.whole, .byteByByte, .randomSplits(seed: 1)]

    public func segments(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        switch self {
        case .whole:
            return bytes.isEmpty ? [] : [bytes[...]]
        case .byteByByte:
            return bytes.indices.map { bytes[$0...$0] }
        case .randomSplits(let seed, let maxSegment):
            var rng = SplitMix64(seed: seed)
            var out: [ArraySlice<UInt8>] = []
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...max(1, min(maxSegment, bytes.count - i)), using: &rng)
                out.append(bytes[i..<(i + n)])
                i += n
            }
            return out
        }
    }

    public var description: String {
        switch self {
        case .whole: "whole"
        case .byteByByte: "byte-by-byte"
        case .randomSplits(let seed, let max): "random-splits(seed: \(seed), max: \(max))"
        }
    }
}
