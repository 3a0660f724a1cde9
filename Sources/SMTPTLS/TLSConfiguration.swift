import COpenSSL

/// A TLS protocol version smtpsim can negotiate.
public enum TLSVersion: String, CaseIterable, Comparable, Codable, Sendable {
    case tls10 = "TLSv1"
    case tls11 = "TLSv1.1"
    case tls12 = "TLSv1.2"
    case tls13 = "TLSv1.3"

    var openSSL: Int32 {
        switch self {
        case .tls10: TLS1_VERSION
        case .tls11: TLS1_1_VERSION
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.openSSL < b.openSSL }
}

/// Which certificates a peer accepts.
public enum TrustPolicy: Hashable, Sendable {
    /// No verification at all (the peer's certificate is still recorded).
    case none
    /// PKIX: the chain must end at one of these anchors, be valid at the verification time, and
    /// (for a client with a server name) name the host (RFC 6125 / RFC 7817).
    case anchors([Certificate])
    /// Exactly this leaf certificate, whatever its chain, name or dates: the "import the server's
    /// certificate and trust it" case (Postfix's "fingerprint" level).
    case pinned(Certificate)
}

/// Whether a server asks for a client certificate (RFC 8446 §4.3.2).
public enum ClientAuthentication: String, Hashable, Sendable, Codable {
    case none
    /// Ask; proceed without one. A presented certificate must verify.
    case request
    /// Ask and fail the handshake without one.
    case require
}

/// A pre-shared key for the cheap-handshake profile: real TLS with no certificate and no
/// signature, for fuzzing and large sweeps.
public struct PreSharedKey: Hashable, Sendable {
    public enum Mode: String, CaseIterable, Hashable, Sendable, Codable {
        /// TLS 1.3 external PSK with (EC)DHE key exchange over X25519 (`psk_dhe_ke`,
        /// RFC 8446 §4.2.9). OpenSSL 3.0 clients always offer it, so this is TLS 1.3's cheapest.
        case tls13 = "tls13-psk-dhe"
        /// TLS 1.2 plain PSK (RFC 4279, PSK-AES128-GCM-SHA256): no public-key operation at all.
        case tls12 = "tls12-psk"
    }

    public var identity: String
    /// 32 octets for TLS 1.3 (the SHA-256 hash length of TLS_AES_128_GCM_SHA256).
    public var key: [UInt8]
    public var mode: Mode

    public init(identity: String = "smtpsim", key: [UInt8], mode: Mode = .tls13) {
        precondition(!key.isEmpty && key.count <= 64, "PSK of 1 to 64 octets")
        precondition(mode == .tls12 || key.count == 32, "TLS 1.3 external PSK of 32 octets (SHA-256)")
        self.identity = identity
        self.key = key
        self.mode = mode
    }

    /// A PSK derived from a seed (both sides of a simulated link derive the same one).
    public static func derived(seed: UInt64, mode: Mode = .tls13) -> PreSharedKey {
        var key: [UInt8] = []
        for i in 0..<4 {
            let v = SeedMix.derive(seed, "psk\(i)")
            for k in 0..<8 { key.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
        }
        return PreSharedKey(key: key, mode: mode)
    }
}

/// Everything about one side's TLS that does not change per connection.
public struct TLSConfiguration: Hashable, Sendable {
    public enum Role: String, Hashable, Sendable { case client, server }

    public var role: Role
    public var minimumVersion: TLSVersion = .tls12
    public var maximumVersion: TLSVersion = .tls13
    /// Key-exchange groups in preference order. X25519 with P-256 also lets TLS 1.2 with an ECDSA
    /// P-256 certificate negotiate (docs/design.md, "Facts the code relies on").
    public var groups: [String] = ["X25519", "P-256"]
    /// TLS 1.3 cipher suites (OpenSSL syntax), `nil` for OpenSSL's default.
    public var cipherSuites: String?
    /// TLS 1.2 and older cipher list (OpenSSL syntax); `nil`: `aeadCipherList` when the
    /// minimum version is TLS 1.2 or later, OpenSSL's default when older versions were asked for.
    public var cipherList: String?

    /// The TLS 1.2 suites a scanner does not flag: ECDHE with AES-GCM or ChaCha20-Poly1305 (no
    /// CBC: RFC 9325 §4.2 recommends AEAD only; sslyze and testssl flag the CBC suites, testssl
    /// as "LUCKY13 potentially vulnerable").
    public static let aeadCipherList = "ECDHE+AESGCM:ECDHE+CHACHA20"

    /// The cipher list the context sets.
    public var effectiveCipherList: String? { cipherList ?? (minimumVersion >= .tls12 ? Self.aeadCipherList : nil) }
    public var trust: TrustPolicy = .none
    /// When false, a client verifies and records the result but completes the handshake anyway
    /// (opportunistic TLS, RFC 7435; and the "ignores certificate errors" flaw).
    public var enforceVerification = true
    /// Check the server's name against its certificate (client; needs a server name per connection).
    public var verifyHostname = true
    /// The certificate this side presents (required for a server unless it only does PSK).
    public var identity: TLSIdentity?
    public var clientAuthentication: ClientAuthentication = .none
    /// OpenSSL security level (0–5); `nil` keeps the library's default.
    public var securityLevel: Int?
    /// The cheap-handshake profile.
    public var preSharedKey: PreSharedKey?
    /// Collect NSS key-log lines (SSLKEYLOGFILE format) so Wireshark can decrypt the traffic.
    public var keyLog = false

    public init(role: Role) {
        self.role = role
    }

    /// A client that verifies servers against `anchors`.
    public static func client(trusting anchors: [Certificate]) -> TLSConfiguration {
        var c = TLSConfiguration(role: .client)
        c.trust = .anchors(anchors)
        return c
    }

    /// A server presenting `identity`.
    public static func server(_ identity: TLSIdentity) -> TLSConfiguration {
        var c = TLSConfiguration(role: .server)
        c.identity = identity
        return c
    }

    /// The cheap-handshake profile for either role.
    public static func cheap(role: Role, psk: PreSharedKey) -> TLSConfiguration {
        var c = TLSConfiguration(role: role)
        c.preSharedKey = psk
        switch psk.mode {
        case .tls13:
            c.minimumVersion = .tls13
            c.cipherSuites = "TLS_AES_128_GCM_SHA256"
            c.groups = ["X25519"]
        case .tls12:
            c.minimumVersion = .tls12
            c.maximumVersion = .tls12
            c.cipherList = "PSK-AES128-GCM-SHA256"
        }
        return c
    }
}
