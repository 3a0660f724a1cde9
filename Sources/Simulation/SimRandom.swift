import EndpointHosting
import SMTPCore

/// The run's seeded generator (docs/design.md rule 5): one per run, children derived by name so adding
/// a consumer in one place never shifts the numbers another place sees.
///
/// xoshiro256** (Blackman, Vigna 2018), seeded through SplitMix64 as its authors recommend.
public struct SimRandom: RandomNumberGenerator, Sendable {
    public let seed: UInt64
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        self.seed = seed
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A generator for one named consumer, derived from the seed alone (FNV-1a of the name mixed
    /// with the seed): independent of how much the parent has drawn.
    public func child(_ name: String) -> SimRandom {
        SimRandom(seed: Self.derive(seed, name))
    }

    public static func derive(_ seed: UInt64, _ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        var z = seed ^ h ^ 0x5EED_5EED_5EED_5EED
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `range`.
    public mutating func int(in range: ClosedRange<Int64>) -> Int64 {
        Int64.random(in: range, using: &self)
    }

    /// True with probability `ratio`.
    public mutating func chance(_ ratio: Ratio) -> Bool {
        guard ratio.numerator > 0 else { return false }
        guard ratio.numerator < ratio.denominator else { return true }
        return UInt64.random(in: 0..<ratio.denominator, using: &self) < ratio.numerator
    }
}
