/// What the endpoint host needs of a TLS engine (docs/design.md, "The endpoint host"): ciphertext
/// in and out, the handshake advanced as it arrives, plaintext read and written, close_notify.
///
/// `TLSConnection` (OpenSSL) is the engine everywhere smtpsim tests TLS. EndpointHosting's
/// `PassThroughTLS` stands in where a test or a fuzz target exercises the SMTP machines and the
/// TLS bytes would only cost time.
public protocol TLSEngine: AnyObject {
    /// Feeds bytes received from the peer.
    func receiveCiphertext(_ bytes: [UInt8])
    /// Takes every byte waiting to be sent.
    func drainCiphertext() -> [UInt8]
    /// Advances the handshake as far as the fed bytes allow.
    func advanceHandshake() -> TLSConnection.HandshakeStatus
    /// Queues application data (only after the handshake).
    func writePlaintext(_ bytes: [UInt8]) throws(TLSFailure)
    /// Whatever application data has arrived, or why there is none.
    func readPlaintext() -> TLSConnection.ReadStatus
    /// Queues a close_notify alert (RFC 8446 §6.1).
    func sendCloseNotify()
    /// True once the peer's close_notify has been read.
    var receivedCloseNotify: Bool { get }
    /// Why the session failed, once it has (a read may return data read before the failure).
    var failure: TLSFailure? { get }
    /// The octets fed in and not consumed (what followed a close_notify).
    func takeUnreadInput() -> [UInt8]
    /// Session events a fault makes this side perform (docs/catalog.md I); each returns false,
    /// sending nothing, where the engine cannot.
    func sendFatalAlert(_ alert: TLSSessionAlert) -> Bool
    func sendKeyUpdate(requestingPeerUpdate: Bool) -> Bool
    func renegotiate() -> Bool
}

extension TLSEngine {
    public func sendFatalAlert(_ alert: TLSSessionAlert) -> Bool { false }
    public func sendKeyUpdate(requestingPeerUpdate: Bool) -> Bool { false }
    public func renegotiate() -> Bool { false }
}

extension TLSConnection: TLSEngine {
    public var failure: TLSFailure? {
        if case .failed(let f) = state { return f }
        return nil
    }

    public func receiveCiphertext(_ bytes: [UInt8]) {
        receiveCiphertext(bytes[...])
    }
}
