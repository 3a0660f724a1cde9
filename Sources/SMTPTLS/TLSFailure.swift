import COpenSSL

/// A TLS alert (RFC 8446 §6), by its description code.
public struct TLSAlert: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt8
    public let fatal: Bool

    public init(code: UInt8, fatal: Bool = true) {
        self.code = code
        self.fatal = fatal
    }

    /// The RFC 8446 §6 name, e.g. `unknown_ca`.
    public var name: String {
        switch code {
        case 0: "close_notify"
        case 10: "unexpected_message"
        case 20: "bad_record_mac"
        case 21: "decryption_failed"
        case 22: "record_overflow"
        case 40: "handshake_failure"
        case 42: "bad_certificate"
        case 43: "unsupported_certificate"
        case 44: "certificate_revoked"
        case 45: "certificate_expired"
        case 46: "certificate_unknown"
        case 47: "illegal_parameter"
        case 48: "unknown_ca"
        case 49: "access_denied"
        case 50: "decode_error"
        case 51: "decrypt_error"
        case 70: "protocol_version"
        case 71: "insufficient_security"
        case 80: "internal_error"
        case 86: "inappropriate_fallback"
        case 90: "user_canceled"
        case 100: "no_renegotiation"  // RFC 5246 §7.2.2 (a warning)
        case 109: "missing_extension"
        case 110: "unsupported_extension"
        case 112: "unrecognized_name"
        case 115: "unknown_psk_identity"
        case 116: "certificate_required"
        case 120: "no_application_protocol"
        default: "alert_\(code)"
        }
    }

    public var description: String { name }
}

/// Why a TLS handshake or record failed: one classified value. (Its RFC 8460 result type is an
/// SMTP matter: `TLSResultType.init(_:)` in EndpointHosting.)
///
/// Equality compares `kind` only; the rest is diagnostic.
public struct TLSFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, CaseIterable, Hashable, Sendable, Codable {
        /// The certificate does not name the host (RFC 8460 `certificate-host-mismatch`).
        case certificateHostMismatch = "certificate-host-mismatch"
        /// Past notAfter at the verification time (`certificate-expired`).
        case certificateExpired = "certificate-expired"
        /// Before notBefore at the verification time (`validation-failure`).
        case certificateNotYetValid = "certificate-not-yet-valid"
        /// No chain to a trust anchor: self-signed, unknown CA, missing intermediate
        /// (`certificate-not-trusted`).
        case certificateNotTrusted = "certificate-not-trusted"
        /// A key too small for the security level (`validation-failure`).
        case weakKey = "weak-key"
        /// Any other verification error (`validation-failure`).
        case validationFailure = "validation-failure"
        /// The leaf is not the pinned certificate (`certificate-not-trusted`).
        case pinnedCertificateMismatch = "pinned-certificate-mismatch"
        /// No protocol version in common.
        case protocolVersionMismatch = "protocol-version-mismatch"
        /// No cipher suite, group or signature algorithm in common.
        case noSharedCipher = "no-shared-cipher"
        /// The peer sent a fatal alert not classified more precisely (see `alert`).
        case peerAlert = "peer-alert"
        /// The server required a client certificate and got none.
        case clientCertificateRequired = "client-certificate-required"
        /// The client's certificate was refused.
        case clientCertificateRejected = "client-certificate-rejected"
        /// Bytes that are not TLS records (plaintext, garbage) where TLS was expected.
        case malformedRecord = "malformed-record"
        /// The PSK identity or key did not match.
        case pskMismatch = "psk-mismatch"
        /// The peer closed the connection in the middle of the handshake.
        case unexpectedEOF = "unexpected-eof"
        /// Anything else OpenSSL reported.
        case internalError = "internal-error"
    }

    public let kind: Kind
    /// Human-readable reason.
    public let reason: String
    /// The alert received from the peer, if any.
    public let alertReceived: TLSAlert?
    /// The alert this side sent, if any.
    public let alertSent: TLSAlert?
    /// `X509_V_*` verification result, when verification failed.
    public let verifyResult: Int?
    public let openSSL: [OpenSSLErrorEntry]

    public init(
        _ kind: Kind, reason: String, alertReceived: TLSAlert? = nil, alertSent: TLSAlert? = nil, verifyResult: Int? = nil,
        openSSL: [OpenSSLErrorEntry] = []
    ) {
        self.kind = kind
        self.reason = reason
        self.alertReceived = alertReceived
        self.alertSent = alertSent
        self.verifyResult = verifyResult
        self.openSSL = openSSL
    }

    public static func == (a: TLSFailure, b: TLSFailure) -> Bool { a.kind == b.kind }
    public func hash(into hasher: inout Hasher) { hasher.combine(kind) }

    public var description: String {
        var s = "\(kind.rawValue): \(reason)"
        if let a = alertReceived { s += " (alert received: \(a))" }
        if let a = alertSent { s += " (alert sent: \(a))" }
        return s
    }

    /// The failure kind for a verification result (`X509_V_*`), e.g. one recorded by a session
    /// that did not enforce verification.
    public static func kind(forVerifyResult code: Int) -> Kind {
        verification(code, alertSent: nil, openSSL: []).kind
    }

    /// Classifies a verification result (`X509_V_*`).
    static func verification(_ code: Int, alertSent: TLSAlert?, openSSL: [OpenSSLErrorEntry]) -> TLSFailure {
        let text = String(cString: X509_verify_cert_error_string(CLong(code)))
        let kind: Kind
        switch Int32(code) {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH: kind = .certificateHostMismatch
        case X509_V_ERR_CERT_HAS_EXPIRED: kind = .certificateExpired
        case X509_V_ERR_CERT_NOT_YET_VALID: kind = .certificateNotYetValid
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED:
            kind = .certificateNotTrusted
        case X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_CA_MD_TOO_WEAK: kind = .weakKey
        default: kind = .validationFailure
        }
        return TLSFailure(kind, reason: "certificate verify failed: \(text)", alertSent: alertSent, verifyResult: code, openSSL: openSSL)
    }
}
