import COpenSSL
import Synchronization

/// A certificate and its private key, as a server (or a client) presents them.
public struct TLSIdentity: Sendable, Hashable {
    /// Leaf first, then the intermediates to send.
    public var chain: [Certificate]
    public var key: PrivateKey

    public init(chain: [Certificate], key: PrivateKey) {
        precondition(!chain.isEmpty, "an identity needs a certificate")
        self.chain = chain
        self.key = key
    }

    public var leaf: Certificate { chain[0] }

    /// Reads a PEM chain (leaf first) and a PEM key, checking that they belong together.
    public init(certificatePEM: String, keyPEM: String) throws(TLSSetupError) {
        let chain = try Certificate.chain(pem: certificatePEM)
        let key = try PrivateKey(pem: keyPEM)
        guard X509_check_private_key(chain[0].x509, key.pkey) == 1 else {
            throw TLSSetupError("the private key does not match the certificate")
        }
        self.init(chain: chain, key: key)
    }

    public static func == (a: TLSIdentity, b: TLSIdentity) -> Bool { a.chain == b.chain && a.key === b.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(chain) }
}

/// Makes certificates in-process, deterministically from a seed: a root CA, an intermediate CA,
/// and server or client leaves in every variant the scenarios need (docs/catalog.md C1–C3, C6).
///
/// The same seed gives the same keys and the same DER bytes in every process. Keys are P-256 by
/// default (about a millisecond for CA plus leaf); RSA keys cost about 235 ms for 2048 bits, so
/// each RSA size is generated once per process from a fixed seed and shared.
///
/// Validity is stamped around `epoch` (the simulation's start, Unix seconds): valid certificates
/// run from 30 days before to 365 days after it.
public final class CertificateFactory: @unchecked Sendable {
    /// The certificate variants a server can present.
    public enum Variant: String, CaseIterable, Codable, Sendable {
        /// Chains to the factory root, names the host, currently valid.
        case valid
        /// Expired 30 days before the epoch (RFC 8460 `certificate-expired`).
        case expired
        /// Valid only from 30 days after the epoch.
        case notYetValid = "not-yet-valid"
        /// Names `other.invalid` instead of the host (`certificate-host-mismatch`).
        case wrongHost = "wrong-host"
        /// Signed by its own key (`certificate-not-trusted`).
        case selfSigned = "self-signed"
        /// Chains to a root the client does not trust (`certificate-not-trusted`).
        case untrustedCA = "untrusted-ca"
        /// The server sends the leaf without the intermediate (`certificate-not-trusted`).
        case missingIntermediate = "missing-intermediate"
        /// An RSA-1024 leaf, refused at OpenSSL security level 2 (the server must run at level 0
        /// or 1 to present it).
        case weakKey = "weak-key"
    }

    public enum KeyType: String, CaseIterable, Hashable, Sendable, Codable {
        case p256 = "p256"
        case rsa2048 = "rsa2048"
    }

    public static let defaultEpoch: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z
    static let day: Int64 = 86_400

    public let seed: UInt64
    public let epoch: Int64
    public let keyType: KeyType
    public let root: Certificate
    public let intermediate: Certificate
    let rootKey: PrivateKey
    let intermediateKey: PrivateKey
    private let untrustedRoot: Certificate
    private let untrustedRootKey: PrivateKey

    public init(seed: UInt64, epoch: Int64 = CertificateFactory.defaultEpoch, keyType: KeyType = .p256) throws(TLSSetupError) {
        self.seed = seed
        self.epoch = epoch
        self.keyType = keyType
        let made: Result<(PrivateKey, Certificate, PrivateKey, Certificate, PrivateKey, Certificate), TLSSetupError> =
            DeterministicRandom.with(seed: SeedMix.derive(seed, "factory")) {
                do throws(TLSSetupError) {
                    let rk = try Self.key(keyType, label: "root", seed: seed)
                    let r = try Self.make(
                        cn: "smtpsim Root CA", sans: [], key: rk, issuer: nil, ca: true, notBefore: epoch - 3650 * Self.day,
                        notAfter: epoch + 3650 * Self.day, serial: 1, usage: nil)
                    let ik = try Self.key(keyType, label: "intermediate", seed: seed)
                    let i = try Self.make(
                        cn: "smtpsim Intermediate CA", sans: [], key: ik, issuer: (r, rk), ca: true,
                        notBefore: epoch - 3650 * Self.day, notAfter: epoch + 3650 * Self.day, serial: 2, usage: nil)
                    let uk = try Self.key(keyType, label: "untrusted", seed: seed)
                    let u = try Self.make(
                        cn: "Untrusted Root CA", sans: [], key: uk, issuer: nil, ca: true, notBefore: epoch - 3650 * Self.day,
                        notAfter: epoch + 3650 * Self.day, serial: 3, usage: nil)
                    return .success((rk, r, ik, i, uk, u))
                } catch {
                    return .failure(error)
                }
            }
        let (rk, r, ik, i, uk, u) = try made.get()
        rootKey = rk
        root = r
        intermediateKey = ik
        intermediate = i
        untrustedRootKey = uk
        untrustedRoot = u
    }

    /// What a client that trusts the factory trusts.
    public var trustAnchors: [Certificate] { [root] }

    /// A server identity for `hostname` in the given variant; `alsoNames` are more names it
    /// covers (host names, or IP addresses: `serve` adds localhost and its listen address, so a
    /// client that connects by address verifies too).
    public func serverIdentity(hostname: String, variant: Variant = .valid, alsoNames: [String] = []) throws(TLSSetupError) -> TLSIdentity {
        try leaf(name: hostname, variant: variant, usage: "serverAuth", alsoNames: alsoNames)
    }

    /// A client certificate (extendedKeyUsage clientAuth) issued by the factory's CA, or by an
    /// untrusted root when `trusted` is false.
    public func clientIdentity(name: String, trusted: Bool = true) throws(TLSSetupError) -> TLSIdentity {
        try leaf(name: name, variant: trusted ? .valid : .untrustedCA, usage: "clientAuth")
    }

    private func leaf(name: String, variant: Variant, usage: String, alsoNames: [String] = []) throws(TLSSetupError) -> TLSIdentity {
        let label = "leaf|\(usage)|\(([name] + alsoNames).joined(separator: ","))|\(variant.rawValue)"
        let result: Result<TLSIdentity, TLSSetupError> = DeterministicRandom.with(seed: SeedMix.derive(seed, label)) {
            do throws(TLSSetupError) {
                let key = variant == .weakKey ? try Self.sharedRSA(bits: 1024) : try Self.key(keyType, label: label, seed: seed)
                var notBefore = epoch - 30 * Self.day
                // 360 days in all: under the 366 of the CA/B Forum baseline and Mozilla's
                // intermediate profile, which sslyze checks.
                var notAfter = epoch + 330 * Self.day
                var sans = [name] + alsoNames.filter { $0 != name }
                var issuer: (Certificate, PrivateKey)? = (intermediate, intermediateKey)
                var chain: [Certificate] = [intermediate]
                switch variant {
                case .valid, .weakKey: break
                case .expired:
                    notBefore = epoch - 400 * Self.day
                    notAfter = epoch - 30 * Self.day
                case .notYetValid:
                    notBefore = epoch + 30 * Self.day
                    notAfter = epoch + 400 * Self.day
                case .wrongHost: sans = ["other.invalid"]
                case .selfSigned:
                    issuer = nil
                    chain = []
                case .untrustedCA:
                    issuer = (untrustedRoot, untrustedRootKey)
                    chain = []
                case .missingIntermediate: chain = []
                }
                let serial = SeedMix.derive(seed, "serial|" + label) >> 1
                let cert = try Self.make(
                    cn: sans[0], sans: sans, key: key, issuer: issuer, ca: false, notBefore: notBefore, notAfter: notAfter,
                    serial: serial, usage: usage)
                return .success(TLSIdentity(chain: [cert] + chain, key: key))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// An IPv4 or IPv6 literal (a subjectAltName iPAddress, RFC 5280 §4.2.1.6).
    static func isIPAddress(_ s: String) -> Bool {
        if s.contains(":") { return true }  // host names never hold a colon
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && UInt8(p) != nil }
    }

    // MARK: - Keys

    private static func key(_ type: KeyType, label: String, seed: UInt64) throws(TLSSetupError) -> PrivateKey {
        switch type {
        case .p256: try PrivateKey.generate(.p256)
        case .rsa2048: try sharedRSA(bits: 2048)
        }
    }

    private static let rsaCache = Mutex<[Int: PrivateKey]>([:])

    /// One RSA key per size per process, generated from a fixed seed (so every process has the
    /// same one) without disturbing the calling thread's random stream.
    static func sharedRSA(bits: Int) throws(TLSSetupError) -> PrivateKey {
        if let key = rsaCache.withLock({ $0[bits] }) { return key }
        let result: Result<PrivateKey, TLSSetupError> = DeterministicRandom.with(seed: SeedMix.derive(0x5253_41, "rsa\(bits)")) {
            do throws(TLSSetupError) { return .success(try PrivateKey.generate(.rsa(bits: bits))) } catch { return .failure(error) }
        }
        let key = try result.get()
        return rsaCache.withLock { cache in
            if let existing = cache[bits] { return existing }
            cache[bits] = key
            return key
        }
    }

    // MARK: - X.509

    static func make(
        cn: String, sans: [String], key: PrivateKey, issuer: (Certificate, PrivateKey)?, ca: Bool, notBefore: Int64,
        notAfter: Int64, serial: UInt64, usage: String?
    ) throws(TLSSetupError) -> Certificate {
        guard let x = X509_new() else { throw TLSSetupError("X509_new") }
        let cert = Certificate(taking: x)
        X509_set_version(x, 2)
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial)
        ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore))
        ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter))
        let name = X509_get_subject_name(x)
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) == 1 else {
            throw TLSSetupError("X509_NAME_add_entry_by_txt")
        }
        X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0.0.x509) } ?? name)
        X509_set_pubkey(x, key.pkey)
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"),
            // RFC 5480 §3: an EC key signs, it does not encipher keys (testssl flags an EC leaf
            // with keyEncipherment); an RSA leaf may do both (RFC 5246 RSA key exchange).
            (NID_key_usage, ca ? "critical,keyCertSign,cRLSign"
                : EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_EC ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment"),
            (NID_subject_key_identifier, "hash"),
            (NID_authority_key_identifier, "keyid:always"),
        ]
        if let usage { extensions.append((NID_ext_key_usage, usage)) }
        if !sans.isEmpty { extensions.append((NID_subject_alt_name, sans.map { Self.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ","))) }
        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer?.0.x509 ?? x, x, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else { throw TLSSetupError("extension \(nid)=\(value)") }
            X509_add_ext(x, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(x, (issuer?.1 ?? key).pkey, EVP_sha256()) > 0 else { throw TLSSetupError("X509_sign") }
        return cert
    }
}
