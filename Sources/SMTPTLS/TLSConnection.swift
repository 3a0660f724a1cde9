import COpenSSL

/// What a finished handshake established.
public struct TLSSessionDetails: Hashable, Sendable {
    /// e.g. `TLSv1.3`.
    public var version: String
    /// e.g. `TLS_AES_256_GCM_SHA384`.
    public var cipherSuite: String
    /// Key-exchange group, e.g. `X25519`; `nil` without (EC)DHE.
    public var group: String?
    /// The peer's certificates, leaf first (empty with PSK or an anonymous client).
    public var peerCertificates: [Certificate]
    /// `X509_V_OK` (0) when the peer's certificate verified; otherwise the error, even when
    /// verification was not enforced (opportunistic TLS records what it could not check).
    public var verifyResult: Int
    public var verifyResultText: String
    /// The server name the client asked for (SNI), as the server saw it.
    public var serverName: String?
    /// True when the handshake used the pre-shared key.
    public var usedPreSharedKey: Bool
    /// The client pinned a certificate and the server presented another (recorded whether or
    /// not verification was enforced).
    public var pinnedCertificateMismatch = false

    public var peerVerified: Bool { verifyResult == 0 && !peerCertificates.isEmpty }

    /// What a client makes of a certificate that did not verify: the pin's own class, or the
    /// class of OpenSSL's verification result (the one classification the simulator and the
    /// socket edge share); nil when it verified.
    public var verificationFailure: TLSFailure.Kind? {
        if pinnedCertificateMismatch { return .pinnedCertificateMismatch }
        return peerVerified || usedPreSharedKey ? nil : TLSFailure.kind(forVerifyResult: verifyResult)
    }

    public init(version: String, cipherSuite: String, group: String? = nil, peerCertificates: [Certificate] = [], verifyResult: Int = 0,
                verifyResultText: String = "ok", serverName: String? = nil, usedPreSharedKey: Bool = false) {
        self.version = version
        self.cipherSuite = cipherSuite
        self.group = group
        self.peerCertificates = peerCertificates
        self.verifyResult = verifyResult
        self.verifyResultText = verifyResultText
        self.serverName = serverName
        self.usedPreSharedKey = usedPreSharedKey
    }
}

/// A sans-IO TLS endpoint over two OpenSSL memory BIOs (like swift-nio-ssl's `SSLConnection`):
/// the caller feeds ciphertext in, advances the handshake, reads and writes plaintext, and drains
/// ciphertext out. It owns no socket, no clock and no thread; verification happens at the
/// caller's `verificationTime`.
///
/// Every failure is classified into one `TLSFailure`, and OpenSSL's error queue is drained each
/// time. Not thread-safe: one connection is driven by one thread at a time.
public final class TLSConnection {
    public enum State: Hashable, Sendable {
        case handshaking
        case established(TLSSessionDetails)
        /// close_notify received (and the connection is done for reading).
        case closed
        case failed(TLSFailure)
    }

    public enum HandshakeStatus: Hashable, Sendable {
        /// Feed more ciphertext (after draining what is pending).
        case needMoreData
        case complete(TLSSessionDetails)
        case failed(TLSFailure)
    }

    public enum ReadStatus: Hashable, Sendable {
        case data([UInt8])
        case needMoreData
        /// The peer sent close_notify.
        case closed
        case failed(TLSFailure)
    }

    public let context: TLSContext
    public let serverName: String?
    public private(set) var state: State = .handshaking
    /// NSS key-log lines (when the context enables them), in the order OpenSSL produced them.
    public internal(set) var keyLogLines: [String] = []
    var alertReceived: TLSAlert?
    var alertSent: TLSAlert?
    private var pinnedMismatch = false
    let ssl: OpaquePointer
    let readBIO: OpaquePointer
    let writeBIO: OpaquePointer

    /// - Parameters:
    ///   - serverName: for a client, the name to send as SNI and to check in the certificate.
    ///   - verificationTime: Unix seconds at which certificates are checked (simulated time).
    public init(context: TLSContext, serverName: String? = nil, verificationTime: Int64) throws(TLSSetupError) {
        guard let ssl = SSL_new(context.ctx) else { throw TLSSetupError("SSL_new") }
        self.ssl = ssl
        self.context = context
        self.serverName = serverName
        readBIO = BIO_new(BIO_s_mem())
        writeBIO = BIO_new(BIO_s_mem())
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs now
        smtpsim_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
        X509_VERIFY_PARAM_set_time(SSL_get0_param(ssl), time_t(verificationTime))
        let configuration = context.configuration
        switch configuration.role {
        case .client:
            SSL_set_connect_state(ssl)
            if let name = serverName {
                _ = smtpsim_SSL_set_tlsext_host_name(ssl, name)
                if configuration.verifyHostname, case .anchors = configuration.trust {
                    SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                    guard SSL_set1_host(ssl, name) == 1 else { throw TLSSetupError("SSL_set1_host") }
                }
            }
        case .server:
            SSL_set_accept_state(ssl)
        }
        _ = OpenSSLErrorEntry.drain()
    }

    deinit { SSL_free(ssl) }

    public var role: TLSConfiguration.Role { context.configuration.role }

    public var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    // MARK: Ciphertext

    /// Feeds bytes received from the peer.
    public func receiveCiphertext<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var buffer = Array(bytes)
        guard !buffer.isEmpty else { return }
        BIO_write(readBIO, &buffer, Int32(buffer.count))
    }

    /// Ciphertext waiting to be sent to the peer.
    public var pendingCiphertextCount: Int { Int(BIO_ctrl_pending(writeBIO)) }

    /// Ciphertext fed in but not yet consumed by OpenSSL.
    public var unreadCiphertextCount: Int { Int(BIO_ctrl_pending(readBIO)) }

    /// Takes every ciphertext byte waiting to be sent.
    public func drainCiphertext() -> [UInt8] {
        let n = pendingCiphertextCount
        guard n > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
            let read = BIO_read(writeBIO, buffer.baseAddress, Int32(n))
            count = max(0, Int(read))
        }
    }

    // MARK: Handshake

    /// Advances the handshake as far as the fed ciphertext allows.
    public func advanceHandshake() -> HandshakeStatus {
        switch state {
        case .established(let details): return .complete(details)
        case .failed(let failure): return .failed(failure)
        case .closed: return .failed(TLSFailure(.unexpectedEOF, reason: "connection closed"))
        case .handshaking: break
        }
        _ = OpenSSLErrorEntry.drain()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            let details = makeDetails()
            state = .established(details)
            return .complete(details)
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
            return .needMoreData
        }
        let failure = classify(error)
        state = .failed(failure)
        return .failed(failure)
    }

    // MARK: Application data

    /// Encrypts plaintext into pending ciphertext. Only after the handshake.
    public func writePlaintext(_ bytes: [UInt8]) throws(TLSFailure) {
        guard isEstablished else {
            if case .failed(let failure) = state { throw failure }
            throw TLSFailure(.internalError, reason: state == .closed ? "write after close_notify" : "write before the handshake completed")
        }
        guard !bytes.isEmpty else { return }
        let held = unwritten.count
        unwritten += bytes
        try flushUnwritten()
        // Only what a renegotiation holds back counts against the bound.
        if unwritten.count > held, unwritten.count > Self.unwrittenLimit {
            unwritten = []
            let failure = TLSFailure(.internalError, reason: "more than \(Self.unwrittenLimit) octets wait for a renegotiation to finish")
            state = .failed(failure)
            throw failure
        }
    }

    /// Plaintext that waits while a renegotiation runs (SSL_write wants the peer's flight first).
    private var unwritten: [UInt8] = []
    /// Bound on it: RFC 5321 §4.5.3.1.7's message size floor of 64 KiB, times 16.
    public static let unwrittenLimit = 1 << 20

    /// Writes what waits; stops, keeping the rest, while the engine wants the peer's bytes.
    func flushUnwritten() throws(TLSFailure) {
        guard !unwritten.isEmpty else { return }
        _ = OpenSSLErrorEntry.drain()
        let rc = unwritten.withUnsafeBufferPointer { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        if rc > 0 {
            unwritten.removeFirst(Int(rc))
            return
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }  // a renegotiation under way
        let failure = classify(error)
        state = .failed(failure)
        throw failure
    }

    /// Decrypts whatever complete records have arrived.
    public func readPlaintext() -> ReadStatus {
        switch state {
        case .handshaking: return .needMoreData
        case .closed: return .closed
        case .failed(let f): return .failed(f)
        case .established: break
        }
        var out: [UInt8] = []
        // One record's worth of scratch (RFC 8446 §5.1: 2^14 octets of plaintext), on the stack
        // and not zeroed: a read used to allocate and clear 16 KiB.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maximumPlaintextRecord) { buffer in
            while true {
                _ = OpenSSLErrorEntry.drain()
                let rc = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                if rc > 0 {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<Int(rc)]))
                    continue
                }
                let error = SSL_get_error(ssl, rc)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                    // A renegotiation that finished in this read lets held writes go.
                    if !unwritten.isEmpty { try? flushUnwritten() }
                    return out.isEmpty ? .needMoreData : .data(out)
                }
                if error == SSL_ERROR_ZERO_RETURN {
                    state = .closed
                    return out.isEmpty ? .closed : .data(out)
                }
                let failure = classify(error)
                state = .failed(failure)
                return out.isEmpty ? .failed(failure) : .data(out)
            }
        }
    }

    /// The largest plaintext one record carries (RFC 8446 §5.1, RFC 5246 §6.2.1).
    static let maximumPlaintextRecord = 16_384

    /// Queues a close_notify alert (RFC 8446 §6.1).
    public func sendCloseNotify() {
        _ = OpenSSLErrorEntry.drain()
        _ = SSL_shutdown(ssl)
        _ = OpenSSLErrorEntry.drain()
    }

    /// True once the peer's close_notify has been read. OpenSSL marks a fatal alert received with
    /// the same shutdown flag: that is a failure, not a close_notify (data, an alert and cleartext
    /// in one read once ended the session as if by close_notify, so a server that ignores alerts
    /// was never seen doing so).
    public var receivedCloseNotify: Bool { failure == nil && SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 }

    // MARK: - Internals

    /// Certificate verification hook (pinning; everything else is OpenSSL's).
    func verify(preverified: Bool, store: OpaquePointer) -> Bool {
        guard case .pinned(let pinned) = context.configuration.trust, context.configuration.role == .client else {
            return preverified
        }
        guard X509_STORE_CTX_get_error_depth(store) == 0 else { return true }  // chain: not our business
        guard let current = X509_STORE_CTX_get_current_cert(store), X509_cmp(current, pinned.x509) == 0 else {
            pinnedMismatch = true
            X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
            return false
        }
        X509_STORE_CTX_set_error(store, X509_V_OK)
        return true
    }

    private func makeDetails() -> TLSSessionDetails {
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? ""
        let nid = smtpsim_SSL_get_negotiated_group(ssl)
        var group: String?
        if nid > 0, let name = SSL_group_to_name(ssl, nid) { group = String(cString: name) }
        var certificates: [Certificate] = []
        if let leaf = SSL_get1_peer_certificate(ssl) { certificates.append(Certificate(taking: leaf)) }
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for i in 0..<smtpsim_sk_X509_num(stack) {
                guard let x = smtpsim_sk_X509_value(stack, i) else { continue }
                let cert = Certificate(retaining: x)
                if !certificates.contains(cert) { certificates.append(cert) }
            }
        }
        let result = Int(SSL_get_verify_result(ssl))
        let sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        _ = OpenSSLErrorEntry.drain()
        var details = TLSSessionDetails(
            version: version, cipherSuite: cipher, group: group, peerCertificates: certificates,
            verifyResult: certificates.isEmpty ? 0 : result,
            verifyResultText: String(cString: X509_verify_cert_error_string(CLong(certificates.isEmpty ? 0 : result))),
            serverName: sni, usedPreSharedKey: context.configuration.preSharedKey != nil && certificates.isEmpty
        )
        details.pinnedCertificateMismatch = pinnedMismatch
        return details
    }

    /// One classified failure from OpenSSL's state after `SSL_get_error` returned `error`.
    private func classify(_ error: Int32) -> TLSFailure {
        let entries = OpenSSLErrorEntry.drain()
        let reasons = Set(entries.filter { $0.library == ERR_LIB_SSL }.map(\.reason))
        let text = entries.map(\.text).joined(separator: "; ")
        let role = context.configuration.role
        let received = alertReceived
        let sent = alertSent
        func failure(_ kind: TLSFailure.Kind, _ reason: String) -> TLSFailure {
            TLSFailure(kind, reason: reason, alertReceived: received, alertSent: sent, openSSL: entries)
        }
        if pinnedMismatch {
            return TLSFailure(
                .pinnedCertificateMismatch, reason: "the server's certificate is not the pinned one", alertSent: sent,
                verifyResult: Int(X509_V_ERR_APPLICATION_VERIFICATION), openSSL: entries)
        }
        if reasons.contains(SSL_R_CERTIFICATE_VERIFY_FAILED) {
            let code = Int(SSL_get_verify_result(ssl))
            if role == .server {
                let inner = TLSFailure.verification(code, alertSent: sent, openSSL: entries)
                return failure(.clientCertificateRejected, "client " + inner.reason)
            }
            return TLSFailure.verification(code, alertSent: sent, openSSL: entries)
        }
        if reasons.contains(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            return failure(.clientCertificateRequired, "the client sent no certificate")
        }
        if let alert = received, alert.code != 0 {
            switch alert.code {
            case 116: return failure(.clientCertificateRequired, "the server requires a client certificate")
            case 70: return failure(.protocolVersionMismatch, "the peer refused the protocol version")
            case 42, 43, 44, 45, 46, 48, 49:
                if role == .client && context.configuration.identity != nil {
                    return failure(.clientCertificateRejected, "the server refused the client certificate (\(alert))")
                }
                return failure(.peerAlert, "the peer sent \(alert)")
            case 115: return failure(.pskMismatch, "the server does not know the PSK identity")
            case 51 where context.configuration.preSharedKey != nil:
                return failure(.pskMismatch, "the PSK does not match")
            case 40 where context.configuration.preSharedKey?.mode == .tls12:
                return failure(.pskMismatch, "the PSK was refused")
            default: return failure(.peerAlert, "the peer sent \(alert)")
            }
        }
        let versionReasons: Set<Int32> = [
            SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
            SSL_R_WRONG_SSL_VERSION, SSL_R_UNSUPPORTED_SSL_VERSION, SSL_R_VERSION_TOO_LOW, SSL_R_VERSION_TOO_HIGH,
        ]
        if !reasons.isDisjoint(with: versionReasons) {
            return failure(.protocolVersionMismatch, "no protocol version in common (\(text))")
        }
        let cipherReasons: Set<Int32> = [
            SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SUITABLE_KEY_SHARE, SSL_R_NO_SHARED_GROUPS, SSL_R_NO_CIPHERS_AVAILABLE,
            SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS,
        ]
        if !reasons.isDisjoint(with: cipherReasons) {
            return failure(.noSharedCipher, "no cipher suite, group or signature algorithm in common (\(text))")
        }
        if reasons.contains(SSL_R_PSK_IDENTITY_NOT_FOUND) || reasons.contains(SSL_R_BAD_PSK) {
            return failure(.pskMismatch, "the PSK was refused (\(text))")
        }
        let recordReasons: Set<Int32> = [
            SSL_R_WRONG_VERSION_NUMBER, SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_RECORD_LENGTH_MISMATCH, SSL_R_HTTP_REQUEST,
            SSL_R_HTTPS_PROXY_REQUEST, SSL_R_UNEXPECTED_MESSAGE, SSL_R_UNEXPECTED_RECORD, SSL_R_BAD_PACKET_LENGTH,
            SSL_R_LENGTH_MISMATCH, SSL_R_BAD_RECORD_TYPE, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
            SSL_R_ENCRYPTED_LENGTH_TOO_LONG, SSL_R_RECORD_TOO_SMALL, SSL_R_BAD_LENGTH, SSL_R_LENGTH_TOO_SHORT,
            SSL_R_BAD_HANDSHAKE_LENGTH, SSL_R_EXCESSIVE_MESSAGE_SIZE,
        ]
        if !reasons.isDisjoint(with: recordReasons) {
            return failure(.malformedRecord, "bytes that are not a valid TLS record (\(text))")
        }
        if error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN || reasons.contains(SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            return failure(.unexpectedEOF, "the peer closed the connection")
        }
        return failure(.internalError, text.isEmpty ? "SSL error \(error)" : text)
    }
}
