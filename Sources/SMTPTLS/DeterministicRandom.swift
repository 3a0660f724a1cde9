import CTLSShim

/// Makes OpenSSL's randomness a function of a seed, per thread (docs/design.md rule 5).
///
/// Deterministic mode needs three things, all provided by SMTPTLS:
/// 1. randomness: `seed(_:)` routes every random byte OpenSSL draws on this thread (key shares,
///    randoms, ECDSA nonces, key generation) through a SplitMix64 stream of the seed. Seed before
///    creating contexts and connections: `SSL_CTX_new` draws too;
/// 2. time: certificates are checked at the caller's simulated time (`TLSConnection`'s
///    `verificationTime`), and the factory stamps fixed validity dates;
/// 3. no session tickets (they embed the wall clock): `TLSContext` turns them off.
public enum DeterministicRandom {
    /// Seeds this thread's stream. Everything OpenSSL does next on this thread is reproducible.
    public static func seed(_ seed: UInt64) {
        smtpsim_rand_seed(seed)
    }

    /// Returns this thread to OpenSSL's own generator.
    public static func clear() {
        smtpsim_rand_clear()
    }

    /// True when this thread draws from a seeded stream.
    public static var isActive: Bool { smtpsim_rand_is_deterministic() != 0 }

    /// Bytes drawn since the last `seed(_:)`.
    public static var bytesDrawn: UInt64 { smtpsim_rand_bytes_drawn() }

    /// Runs `body` with this thread seeded, then resumes exactly the stream (or the non-seeded
    /// mode) the thread had before, as if `body` had drawn nothing.
    public static func with<T>(seed: UInt64, _ body: () throws -> T) rethrows -> T {
        let saved = smtpsim_rand_save()
        self.seed(seed)
        defer { smtpsim_rand_restore(saved) }
        return try body()
    }
}

/// Stable 64-bit mixing for derived seeds (never Swift's `Hasher`, which is seeded per process).
enum SeedMix {
    static func derive(_ seed: UInt64, _ label: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for b in label.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        var z = seed ^ h
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
