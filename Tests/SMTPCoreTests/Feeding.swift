import SMTPCore

/// SplitMix64 (Steele, Lea, Flood 2014): the tests' seeded generator. Tests never use the
/// system generator, so every failure replays from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The three ways every parser is fed (DESIGN.md rule 10): whole, one byte at a time, and in
/// seeded random splits. Results must be identical.
enum Feeding: CustomStringConvertible {
    case whole
    case byteByByte
    case randomSplits(seed: UInt64)

    /// Whole, byte by byte, and five seeded random split patterns.
    static let all: [Feeding] = [.whole, .byteByByte] + (1...5).map { .randomSplits(seed: $0) }

    func segments(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        switch self {
        case .whole:
            return [bytes[...]]
        case .byteByByte:
            return bytes.indices.map { bytes[$0...$0] }
        case .randomSplits(let seed):
            var rng = SplitMix64(seed: seed)
            var out: [ArraySlice<UInt8>] = []
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...max(1, min(17, bytes.count - i)), using: &rng)
                out.append(bytes[i..<(i + n)])
                i += n
            }
            return out
        }
    }

    var description: String {
        switch self {
        case .whole: "whole"
        case .byteByByte: "byte-by-byte"
        case .randomSplits(let seed): "random-splits(seed: \(seed))"
        }
    }
}

/// What a framer-driven parser produced, comparable across feedings.
enum Framed: Equatable, CustomStringConvertible {
    case line(String)
    case error(SMTPError.Code, offset: Int?)

    var description: String {
        switch self {
        case .line(let s): "line(\(s.debugDescription))"
        case .error(let c, let o): "error(\(c), at: \(o.map(String.init) ?? "-"))"
        }
    }
}

func frameAll(_ bytes: [UInt8], feeding: Feeding, limit: Int = 512) -> [Framed] {
    var framer = LineFramer(maximumLineLength: limit)
    var out: [Framed] = []
    for segment in feeding.segments(bytes) {
        framer.append(segment)
        while true {
            do {
                guard let line = try framer.next() else { break }
                out.append(.line(String(decoding: line, as: UTF8.self)))
            } catch {
                out.append(.error(error.code, offset: error.offset))
            }
        }
    }
    return out
}
