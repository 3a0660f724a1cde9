import COpenSSL
import CTLSShim

/// One side's TLS configuration made into an OpenSSL `SSL_CTX`. Create contexts after seeding
/// (`DeterministicRandom.seed`): `SSL_CTX_new` draws random bytes.
///
/// Fixed rules (deterministic mode, docs/design.md rule 5): session tickets are off
/// (`SSL_OP_NO_TICKET`, `SSL_CTX_set_num_tickets(0)`: tickets embed the wall clock), there is no
/// session cache, no compression, no renegotiation.
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer
    public let configuration: TLSConfiguration
    /// The PSK identity as a stable C buffer for OpenSSL's callbacks.
    let pskIdentity: UnsafeMutableBufferPointer<UInt8>?

    public init(_ configuration: TLSConfiguration) throws(TLSSetupError) {
        smtpsim_rand_install()
        _ = OpenSSLErrorEntry.drain()
        self.configuration = configuration
        let method = configuration.role == .client ? TLS_client_method() : TLS_server_method()
        guard let ctx = SSL_CTX_new(method) else { throw TLSSetupError("SSL_CTX_new") }
        self.ctx = ctx
        if let psk = configuration.preSharedKey {
            let id = Array(psk.identity.utf8)
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, id.count + 1))
            buffer.initialize(repeating: 0)
            for (i, b) in id.enumerated() { buffer[i] = b }
            pskIdentity = buffer
        } else {
            pskIdentity = nil
        }
        try configure()
    }

    deinit {
        SSL_CTX_free(ctx)
        pskIdentity?.deallocate()
    }

    private func configure() throws(TLSSetupError) {
        let c = configuration
        SSL_CTX_set_options(
            ctx, smtpsim_SSL_OP_NO_TICKET() | smtpsim_SSL_OP_NO_COMPRESSION() | smtpsim_SSL_OP_NO_RENEGOTIATION()
        )
        SSL_CTX_set_num_tickets(ctx, 0)
        smtpsim_SSL_CTX_release_idle_buffers(ctx)
        smtpsim_SSL_CTX_disable_session_cache(ctx)
        if let level = c.securityLevel { SSL_CTX_set_security_level(ctx, Int32(level)) }
        guard smtpsim_SSL_CTX_set_min_proto_version(ctx, c.minimumVersion.openSSL) == 1,
            smtpsim_SSL_CTX_set_max_proto_version(ctx, c.maximumVersion.openSSL) == 1
        else { throw TLSSetupError("setting protocol versions") }
        if !c.groups.isEmpty, smtpsim_SSL_CTX_set1_groups_list(ctx, c.groups.joined(separator: ":")) != 1 {
            throw TLSSetupError("groups \(c.groups)")
        }
        if let suites = c.cipherSuites, SSL_CTX_set_ciphersuites(ctx, suites) != 1 {
            throw TLSSetupError("TLS 1.3 cipher suites \(suites)")
        }
        if let list = c.effectiveCipherList, SSL_CTX_set_cipher_list(ctx, list) != 1 {
            throw TLSSetupError("cipher list \(list)")
        }
        if let identity = c.identity {
            guard SSL_CTX_use_certificate(ctx, identity.leaf.x509) == 1 else { throw TLSSetupError("using the certificate") }
            for cert in identity.chain.dropFirst() where smtpsim_SSL_CTX_add1_chain_cert(ctx, cert.x509) != 1 {
                throw TLSSetupError("adding a chain certificate")
            }
            guard SSL_CTX_use_PrivateKey(ctx, identity.key.pkey) == 1 else { throw TLSSetupError("using the private key") }
            guard SSL_CTX_check_private_key(ctx) == 1 else { throw TLSSetupError("the key does not match the certificate") }
        }
        switch c.trust {
        case .anchors(let anchors):
            let store = SSL_CTX_get_cert_store(ctx)
            for anchor in anchors where X509_STORE_add_cert(store, anchor.x509) != 1 {
                throw TLSSetupError("adding a trust anchor")
            }
        case .none, .pinned:
            break
        }
        var mode: Int32 = SSL_VERIFY_NONE
        switch c.role {
        case .client:
            switch c.trust {
            case .none: mode = SSL_VERIFY_NONE
            case .anchors, .pinned: mode = c.enforceVerification ? SSL_VERIFY_PEER : SSL_VERIFY_NONE
            }
        case .server:
            switch c.clientAuthentication {
            case .none: mode = SSL_VERIFY_NONE
            case .request: mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE
            case .require: mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE
            }
        }
        SSL_CTX_set_verify(ctx, mode, tlsVerifyCallback)
        SSL_CTX_set_info_callback(ctx, tlsInfoCallback)
        if c.keyLog { SSL_CTX_set_keylog_callback(ctx, tlsKeyLogCallback) }
        if let psk = c.preSharedKey {
            switch psk.mode {
            case .tls13:
                if c.role == .client {
                    SSL_CTX_set_psk_use_session_callback(ctx, tlsPSKUseSessionCallback)
                } else {
                    SSL_CTX_set_psk_find_session_callback(ctx, tlsPSKFindSessionCallback)
                }
            case .tls12:
                if c.role == .client {
                    SSL_CTX_set_psk_client_callback(ctx, tlsPSKClientCallback)
                } else {
                    SSL_CTX_set_psk_server_callback(ctx, tlsPSKServerCallback)
                }
            }
        }
        _ = OpenSSLErrorEntry.drain()
    }
}

// MARK: - OpenSSL callbacks (C function pointers; they find their connection through app data)

func connection(of ssl: OpaquePointer?) -> TLSConnection? {
    guard let ssl, let raw = smtpsim_SSL_get_app_data(ssl) else { return nil }
    return Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
}

private let tlsVerifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverify, store in
    guard let store,
        let sslRaw = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let connection = connection(of: OpaquePointer(sslRaw))
    else { return preverify }
    return connection.verify(preverified: preverify == 1, store: store) ? 1 : 0
}

private let tlsInfoCallback: @convention(c) (OpaquePointer?, Int32, Int32) -> Void = { ssl, location, value in
    guard location & SSL_CB_ALERT != 0, let connection = connection(of: ssl) else { return }
    let alert = TLSAlert(code: UInt8(truncatingIfNeeded: value & 0xFF), fatal: (value >> 8) == SSL3_AL_FATAL)
    if location & SSL_CB_READ != 0 {
        connection.alertReceived = connection.alertReceived ?? alert
    } else {
        connection.alertSent = connection.alertSent ?? alert
    }
}

private let tlsKeyLogCallback: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { ssl, line in
    guard let line, let connection = connection(of: ssl) else { return }
    connection.keyLogLines.append(String(cString: line))
}

private let tlsPSKUseSessionCallback:
    @convention(c) (
        OpaquePointer?, OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<Int>?,
        UnsafeMutablePointer<OpaquePointer?>?
    ) -> Int32 = { ssl, _, id, idLength, session in
        guard let ssl, let connection = connection(of: ssl), let psk = connection.context.configuration.preSharedKey,
            let buffer = connection.context.pskIdentity, let made = pskSession(ssl, psk)
        else { return 0 }
        id?.pointee = UnsafePointer(buffer.baseAddress)
        idLength?.pointee = psk.identity.utf8.count
        session?.pointee = made
        return 1
    }

private let tlsPSKFindSessionCallback:
    @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> Int32 = {
        ssl, identity, length, session in
        guard let ssl, let identity, let connection = connection(of: ssl),
            let psk = connection.context.configuration.preSharedKey
        else { return 0 }
        let given = Array(UnsafeBufferPointer(start: identity, count: length))
        guard given == Array(psk.identity.utf8) else {
            session?.pointee = nil
            return 1  // unknown identity: continue without PSK
        }
        session?.pointee = pskSession(ssl, psk)
        return 1
    }

/// A TLS 1.3 session carrying an external PSK (RFC 8446 §4.2.11), TLS_AES_128_GCM_SHA256.
private func pskSession(_ ssl: OpaquePointer, _ psk: PreSharedKey) -> OpaquePointer? {
    let suite: [UInt8] = [0x13, 0x01]
    guard let cipher = SSL_CIPHER_find(ssl, suite), let session = SSL_SESSION_new() else { return nil }
    guard SSL_SESSION_set1_master_key(session, psk.key, psk.key.count) == 1,
        SSL_SESSION_set_cipher(session, cipher) == 1,
        SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION) == 1
    else {
        SSL_SESSION_free(session)
        return nil
    }
    return session
}

private let tlsPSKClientCallback:
    @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, UInt32, UnsafeMutablePointer<UInt8>?, UInt32
    ) -> UInt32 = { ssl, _, identity, maxIdentity, key, maxKey in
        guard let identity, let key, let connection = connection(of: ssl),
            let psk = connection.context.configuration.preSharedKey
        else { return 0 }
        let id = Array(psk.identity.utf8)
        guard id.count < Int(maxIdentity), psk.key.count <= Int(maxKey) else { return 0 }
        for (i, b) in id.enumerated() { identity[i] = CChar(bitPattern: b) }
        identity[id.count] = 0
        for (i, b) in psk.key.enumerated() { key[i] = b }
        return UInt32(psk.key.count)
    }

private let tlsPSKServerCallback:
    @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UInt8>?, UInt32) -> UInt32 = {
        ssl, identity, key, maxKey in
        guard let identity, let key, let connection = connection(of: ssl),
            let psk = connection.context.configuration.preSharedKey,
            String(cString: identity) == psk.identity, psk.key.count <= Int(maxKey)
        else { return 0 }
        for (i, b) in psk.key.enumerated() { key[i] = b }
        return UInt32(psk.key.count)
    }
