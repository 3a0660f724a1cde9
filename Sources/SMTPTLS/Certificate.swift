import COpenSSL

/// An X.509 certificate (an OpenSSL `X509`, reference-counted, immutable once made).
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    let x509: OpaquePointer

    /// Takes ownership of one reference.
    init(taking x509: OpaquePointer) {
        self.x509 = x509
    }

    /// Shares a reference owned elsewhere.
    init(retaining x509: OpaquePointer) {
        X509_up_ref(x509)
        self.x509 = x509
    }

    deinit { X509_free(x509) }

    /// Reads the first certificate of a PEM document.
    public convenience init(pem: String) throws(TLSSetupError) {
        let bio = MemoryBIO(pem)
        guard let x = PEM_read_bio_X509(bio.bio, nil, nil, nil) else { throw TLSSetupError("reading a PEM certificate") }
        self.init(taking: x)
    }

    /// Reads every certificate of a PEM document (a chain, leaf first).
    public static func chain(pem: String) throws(TLSSetupError) -> [Certificate] {
        let bio = MemoryBIO(pem)
        var out: [Certificate] = []
        while let x = PEM_read_bio_X509(bio.bio, nil, nil, nil) { out.append(Certificate(taking: x)) }
        _ = OpenSSLErrorEntry.drain()  // the end of the document shows as "no start line"
        guard !out.isEmpty else { throw TLSSetupError("reading a PEM certificate chain: no certificate found") }
        return out
    }

    /// Reads a DER-encoded certificate.
    public convenience init(der: [UInt8]) throws(TLSSetupError) {
        let x: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_X509(nil, &p, buf.count)
        }
        guard let x else { throw TLSSetupError("reading a DER certificate") }
        self.init(taking: x)
    }

    public var pem: String {
        let bio = MemoryBIO()
        PEM_write_bio_X509(bio.bio, x509)
        return bio.string
    }

    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509(x509, &out)
        guard n > 0, let out else { return [] }
        defer { smtpsim_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// The subject as a one-line distinguished name, e.g. `CN=mx.example.test`.
    public var subject: String { Self.name(X509_get_subject_name(x509)) }
    public var issuer: String { Self.name(X509_get_issuer_name(x509)) }

    /// Subject alternative names as printed by OpenSSL (`DNS:mx.example.test`, `IP Address:…`).
    public var subjectAlternativeNames: [String] {
        let index = X509_get_ext_by_NID(x509, NID_subject_alt_name, -1)
        guard index >= 0, let ext = X509_get_ext(x509, index) else { return [] }
        let bio = MemoryBIO()
        guard X509V3_EXT_print(bio.bio, ext, 0, 0) == 1 else { return [] }
        return bio.string.split(separator: ",").map { $0.trimmingCharacters() }
    }

    /// The DNS names among the subject alternative names.
    public var dnsNames: [String] {
        subjectAlternativeNames.compactMap { $0.hasPrefix("DNS:") ? String($0.dropFirst(4)) : nil }
    }

    /// Validity period as Unix seconds.
    public var notBefore: Int64 { Self.unixTime(X509_get0_notBefore(x509)) }
    public var notAfter: Int64 { Self.unixTime(X509_get0_notAfter(x509)) }

    /// SHA-256 over the DER encoding, lower-case hex.
    public var sha256Fingerprint: String {
        var md = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        X509_digest(x509, EVP_sha256(), &md, &length)
        return md.prefix(Int(length)).map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    /// True when the certificate is a CA (basicConstraints CA:TRUE).
    public var isCA: Bool { X509_check_ca(x509) != 0 }

    /// Public key size in bits.
    public var keyBits: Int {
        guard let key = X509_get0_pubkey(x509) else { return 0 }
        return Int(EVP_PKEY_get_bits(key))
    }

    public static func == (a: Certificate, b: Certificate) -> Bool { X509_cmp(a.x509, b.x509) == 0 }
    /// Equal certificates have equal subjects: hashing the subject's (cached) canonical-name hash
    /// is consistent with `==` and costs no DER encoding (context caches hash configurations,
    /// certificates included, once per simulated run).
    public func hash(into hasher: inout Hasher) { hasher.combine(X509_subject_name_hash(x509)) }
    public var description: String { "Certificate(\(subject), \(sha256Fingerprint.prefix(16))…)" }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        let bio = MemoryBIO()
        X509_NAME_print_ex(bio.bio, name, 0, smtpsim_XN_FLAG_RFC2253())
        return bio.string
    }

    private static func unixTime(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        guard let time else { return 0 }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return 0 }
        return Int64(timegm(&tm))
    }
}

/// A private key (an OpenSSL `EVP_PKEY`).
public final class PrivateKey: @unchecked Sendable, CustomStringConvertible {
    let pkey: OpaquePointer

    init(taking pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public enum Kind: Hashable, Sendable {
        /// ECDSA on P-256 (the factory's default: fast to make and to use).
        case p256
        /// RSA with the given modulus size.
        case rsa(bits: Int)
    }

    /// Generates a key. Deterministic when this thread is seeded (`DeterministicRandom`).
    public static func generate(_ kind: Kind) throws(TLSSetupError) -> PrivateKey {
        let algorithm = switch kind {
        case .p256: "EC"
        case .rsa: "RSA"
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { throw TLSSetupError("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw TLSSetupError("EVP_PKEY_keygen_init") }
        switch kind {
        case .p256:
            guard EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1 else { throw TLSSetupError("EVP_PKEY_CTX_set_group_name") }
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else { throw TLSSetupError("set RSA bits") }
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw TLSSetupError("EVP_PKEY_generate") }
        return PrivateKey(taking: key)
    }

    /// Reads a PEM private key (PKCS#8 or traditional, unencrypted).
    public convenience init(pem: String) throws(TLSSetupError) {
        let bio = MemoryBIO(pem)
        guard let k = PEM_read_bio_PrivateKey(bio.bio, nil, nil, nil) else { throw TLSSetupError("reading a PEM private key") }
        self.init(taking: k)
    }

    /// PKCS#8 PEM, unencrypted.
    public var pem: String {
        let bio = MemoryBIO()
        PEM_write_bio_PrivateKey(bio.bio, pkey, nil, nil, 0, nil, nil)
        return bio.string
    }

    public var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }
    public var description: String { "PrivateKey(\(bits) bits)" }
}

/// A memory BIO for PEM input and output.
final class MemoryBIO {
    let bio: OpaquePointer

    init() { bio = BIO_new(BIO_s_mem()) }

    init(_ text: String) {
        bio = BIO_new(BIO_s_mem())
        var bytes = Array(text.utf8)
        if !bytes.isEmpty { BIO_write(bio, &bytes, Int32(bytes.count)) }
    }

    deinit { BIO_free(bio) }

    var string: String {
        var pointer: UnsafeMutablePointer<CChar>?
        let n = smtpsim_BIO_get_mem_data(bio, &pointer)
        guard n > 0, let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: n) {
            String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
        }
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self
        while s.first == " " || s.first == "\n" { s.removeFirst() }
        while s.last == " " || s.last == "\n" { s.removeLast() }
        return String(s)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
