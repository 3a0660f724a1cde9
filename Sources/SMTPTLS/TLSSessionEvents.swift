import COpenSSL

/// A fatal alert smtpsim can make OpenSSL send after the handshake (RFC 8446 §6.2, RFC 5246
/// §7.2.2), for the `tls-alert` fault (docs/catalog.md I).
///
/// OpenSSL 3.0 has no call that sends an alert (its `ssl3_send_alert` is not exported), so each
/// alert is provoked: a record that this side's own engine rejects is fed to it, never put on the
/// wire, and the engine answers with the alert, encrypted under the session's keys as a real one
/// would be. Measured on OpenSSL 3.0 with memory BIOs (`Tests/SMTPTLSTests`, TLSSessionEventTests):
/// `unexpected_message` and `decode_error` can be provoked only in TLS 1.3 (in TLS 1.2 every
/// rejected record after the handshake is a MAC failure). `internal_error`, `handshake_failure`,
/// `illegal_parameter` and the certificate alerts cannot be sent after the handshake at all:
/// OpenSSL sends them only for failures of its own.
public enum TLSSessionAlert: String, CaseIterable, Hashable, Sendable, Codable {
    case unexpectedMessage = "unexpected_message"
    case badRecordMAC = "bad_record_mac"
    case recordOverflow = "record_overflow"
    case decodeError = "decode_error"
    case protocolVersion = "protocol_version"

    /// The RFC 8446 §6 description code.
    public var code: UInt8 {
        switch self {
        case .unexpectedMessage: 10
        case .badRecordMAC: 20
        case .recordOverflow: 22
        case .decodeError: 50
        case .protocolVersion: 70
        }
    }

    /// Where OpenSSL can be brought to send it: "TLS 1.2 and 1.3" or "TLS 1.3 only".
    public var versions: String {
        switch self {
        case .unexpectedMessage, .decodeError: "TLS 1.3 only"
        case .badRecordMAC, .recordOverflow, .protocolVersion: "TLS 1.2 and 1.3"
        }
    }

    /// The record that makes this side's engine send the alert, or nil where it cannot.
    func provocation(tls13: Bool) -> [UInt8]? {
        switch self {
        case .unexpectedMessage:
            // A record of an unknown content type.
            return tls13 ? [0x20, 0x03, 0x03, 0x00, 0x02, 0x01, 0x01] : nil
        case .badRecordMAC:
            // Application data that does not decrypt.
            return [0x17, 0x03, 0x03, 0x00, 0x28] + (0..<40).map { UInt8($0) }
        case .recordOverflow:
            // A length past 2^14 + 2048 (RFC 5246 §6.2.3, RFC 8446 §5.2).
            return [0x17, 0x03, 0x03, 0x48, 0x01] + [UInt8](repeating: 1, count: 0x4801)
        case .decodeError:
            // A record header with an unknown version (TLS 1.3 answers decode_error).
            return tls13 ? [0x17, 0x03, 0x09, 0x00, 0x28] + [UInt8](repeating: 0, count: 40) : nil
        case .protocolVersion:
            // TLS 1.3: cleartext where a record belongs; TLS 1.2: an unknown record version.
            return tls13 ? Array("QUIT\r\n".utf8) : [0x17, 0x03, 0x09, 0x00, 0x28] + [UInt8](repeating: 0, count: 40)
        }
    }
}

extension TLSConnection {
    /// The negotiated protocol is TLS 1.3.
    public var isTLS13: Bool { SSL_version(ssl) == TLS1_3_VERSION }

    /// Sends `alert` as a fatal alert (provoked, see `TLSSessionAlert`); the session is over for
    /// this side. False, with nothing sent, before the handshake or where the alert cannot be
    /// provoked in this version.
    public func sendFatalAlert(_ alert: TLSSessionAlert) -> Bool {
        guard isEstablished, let record = alert.provocation(tls13: isTLS13) else { return false }
        _ = takeUnreadInput()  // the session ends here: the peer's unread records are never read
        receiveCiphertext(record)
        _ = readPlaintext()
        guard case .failed = state else { return false }
        return pendingCiphertextCount > 0
    }

    /// Sends a TLS 1.3 KeyUpdate (RFC 8446 §4.6.3), asking the peer to update its keys too when
    /// `requestingPeerUpdate`. False, with nothing sent, outside an established TLS 1.3 session.
    public func sendKeyUpdate(requestingPeerUpdate: Bool) -> Bool {
        guard isEstablished, isTLS13 else { return false }
        _ = OpenSSLErrorEntry.drain()
        guard SSL_key_update(ssl, requestingPeerUpdate ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1 else { return false }
        _ = SSL_do_handshake(ssl)
        _ = OpenSSLErrorEntry.drain()
        return pendingCiphertextCount > 0
    }

    /// Starts a TLS 1.2 renegotiation (RFC 5746): a server sends HelloRequest, a client a new
    /// ClientHello. smtpsim's contexts refuse renegotiation (SSL_OP_NO_RENEGOTIATION); the side
    /// that starts one lifts that for itself. False outside an established TLS 1.2 session.
    public func renegotiate() -> Bool {
        guard isEstablished, !isTLS13 else { return false }
        _ = OpenSSLErrorEntry.drain()
        _ = SSL_clear_options(ssl, smtpsim_SSL_OP_NO_RENEGOTIATION())
        guard SSL_renegotiate(ssl) == 1 else { return false }
        _ = SSL_do_handshake(ssl)
        _ = OpenSSLErrorEntry.drain()
        return pendingCiphertextCount > 0
    }

    /// Takes the octets fed in that OpenSSL has not consumed (what followed a close_notify).
    public func takeUnreadInput() -> [UInt8] {
        let n = unreadCiphertextCount
        guard n > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: n)
        let read = BIO_read(readBIO, &out, Int32(n))
        return read > 0 ? Array(out.prefix(Int(read))) : []
    }
}
