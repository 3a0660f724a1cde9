import SMTPTLS

/// A stand-in TLS engine for tests and fuzz targets that exercise the SMTP machines, not TLS:
/// one fixed "hello" each way (client first), then application data exactly as written.
///
/// Strict where real TLS is strict: anything but the peer's hello where a hello belongs fails
/// the handshake as a malformed record, so plaintext left behind STARTTLS still breaks it. A
/// completed handshake reports the peer authenticated (as a pre-shared key would); a driver's
/// `host(_:handshakeCompleted:)` gives any other result. There are no records: the caller says
/// when the peer's session ends (`peerEnds`, a close_notify or a fatal alert after what the
/// peer sent so far), and this side's own close_notify is not carried.
public final class PassThroughTLS: TLSEngine {
    /// What the client sends first; `serverHello` answers it.
    public static let clientHello: [UInt8] = Array("\u{16}pass-through client hello\r\n".utf8)
    public static let serverHello: [UInt8] = Array("\u{16}pass-through server hello\r\n".utf8)
    /// What a completed pass-through handshake says it established.
    public static let details = TLSSessionDetails(version: "pass-through", cipherSuite: "none", usedPreSharedKey: true)

    private enum State {
        case awaitingHello(sentOurs: Bool)
        case established
        case failed(TLSFailure)
    }

    public let side: Side
    private var state: State = .awaitingHello(sentOurs: false)
    private var inbound: [UInt8] = []
    private var outbound: [UInt8] = []
    /// How the peer's session ends once what it sent is read (`peerEnds`).
    private var peerEnd: TLSSessionAlert??
    public private(set) var receivedCloseNotify = false
    public var failure: TLSFailure? {
        if case .failed(let f) = state { return f }
        return nil
    }

    public init(side: Side) { self.side = side }

    public func receiveCiphertext(_ bytes: [UInt8]) { inbound += bytes }

    public func drainCiphertext() -> [UInt8] {
        defer { outbound = [] }
        return outbound
    }

    public func advanceHandshake() -> TLSConnection.HandshakeStatus {
        switch state {
        case .established: return .complete(Self.details)
        case .failed(let failure): return .failed(failure)
        case .awaitingHello(let sentOurs):
            if side == .client, !sentOurs {
                outbound += Self.clientHello
                state = .awaitingHello(sentOurs: true)
            }
            let expected = side == .client ? Self.serverHello : Self.clientHello
            let seen = min(inbound.count, expected.count)
            guard inbound.prefix(seen).elementsEqual(expected.prefix(seen)) else {
                let failure = TLSFailure(.malformedRecord, reason: "not a pass-through hello")
                state = .failed(failure)
                return .failed(failure)
            }
            guard seen == expected.count else { return .needMoreData }
            inbound.removeFirst(seen)
            if side == .server { outbound += Self.serverHello }
            state = .established
            return .complete(Self.details)
        }
    }

    public func writePlaintext(_ bytes: [UInt8]) throws(TLSFailure) {
        guard case .established = state else { throw TLSFailure(.internalError, reason: "write before the handshake completed") }
        outbound += bytes
    }

    public func readPlaintext() -> TLSConnection.ReadStatus {
        switch state {
        case .awaitingHello: return .needMoreData
        case .failed(let failure): return .failed(failure)
        case .established:
            defer { inbound = [] }
            let data = inbound
            switch peerEnd {
            case nil: break
            case nil?: receivedCloseNotify = true
            case let alert??: state = .failed(TLSFailure(.peerAlert, reason: "the peer sent a fatal \(alert.rawValue) alert", alertReceived: TLSAlert(code: alert.code)))
            }
            peerEnd = nil
            if !data.isEmpty { return .data(data) }
            if receivedCloseNotify { return .closed }
            if case .failed(let failure) = state { return .failed(failure) }
            return .needMoreData
        }
    }

    /// The peer's session ends after what it sent so far: with close_notify (nil) or a fatal
    /// alert; the host hears it on its next read.
    public func peerEnds(alert: TLSSessionAlert?) {
        guard case .established = state else { return }
        peerEnd = .some(alert)
    }

    public func sendCloseNotify() {}

    public func takeUnreadInput() -> [UInt8] {
        guard case .awaitingHello = state else { return [] }
        defer { inbound = [] }
        return inbound
    }
}
