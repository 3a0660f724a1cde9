/// A TCP endpoint as the user writes it: `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback).
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// Where smtpsim listens and connects unless told otherwise: never a public interface by
    /// accident.
    public static let loopback = "127.0.0.1"

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; a missing host means loopback, a missing port `defaultPort`.
    public init(parsing text: String, defaultPort: Int? = nil) throws(NetError) {
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw NetError.badAddress(text, "missing ']'") }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { throw NetError.badAddress(text, "junk after ']'") }
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        self.host = host.isEmpty ? Self.loopback : String(host)
        if let portText {
            guard let p = Int(portText), (0...65_535).contains(p) else { throw NetError.badAddress(text, "port must be 0–65535") }
            port = p
        } else if let defaultPort {
            port = defaultPort
        } else {
            throw NetError.badAddress(text, "expected HOST:PORT")
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Network failures, each one line for the user, each with its exit status.
public enum NetError: Error, Hashable, Sendable, CustomStringConvertible {
    case badAddress(String, String)
    case connectionRefused(HostPort)
    case connectTimedOut(HostPort, seconds: Double)
    case cannotListen(HostPort, String)
    case connectionFailed(HostPort, String)
    case setup(String)

    public var description: String {
        switch self {
        case .badAddress(let text, let why): "bad address '\(text)': \(why)"
        case .connectionRefused(let a): "connection to \(a) refused"
        case .connectTimedOut(let a, let s): "connection to \(a) timed out after \(s.formatted1) s"
        case .cannotListen(let a, let why): "cannot listen on \(a): \(why)"
        case .connectionFailed(let a, let why): "connection to \(a) failed: \(why)"
        case .setup(let why): why
        }
    }
}

extension Double {
    var formatted1: String {
        let tenths = (self * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10))" : "\(tenths / 10)"
    }
}
