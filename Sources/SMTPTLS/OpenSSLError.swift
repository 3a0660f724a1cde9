import COpenSSL

/// One entry of OpenSSL's error queue.
public struct OpenSSLErrorEntry: Hashable, Sendable, CustomStringConvertible {
    public let library: Int32
    public let reason: Int32
    public let text: String

    public var description: String { text }

    /// Drains the calling thread's OpenSSL error queue (docs/design.md, "Facts the code relies on": a stale queue turns the next
    /// WANT_READ into SSL_ERROR_SSL, so every failure path drains it).
    static func drain() -> [OpenSSLErrorEntry] {
        var out: [OpenSSLErrorEntry] = []
        while true {
            let e = ERR_get_error()
            if e == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            out.append(OpenSSLErrorEntry(library: smtpsim_ERR_GET_LIB(e), reason: smtpsim_ERR_GET_REASON(e), text: text))
        }
        return out
    }
}

/// Errors in setting TLS up (bad PEM, unusable keys, a configuration OpenSSL refuses). Failures of
/// a handshake or of a record are `TLSFailure`s instead.
public struct TLSSetupError: Error, Hashable, Sendable, CustomStringConvertible {
    public let operation: String
    public let openSSL: [OpenSSLErrorEntry]

    init(_ operation: String) {
        self.operation = operation
        self.openSSL = OpenSSLErrorEntry.drain()
    }

    public var description: String {
        openSSL.isEmpty ? operation : "\(operation): \(openSSL.map(\.text).joined(separator: "; "))"
    }
}
