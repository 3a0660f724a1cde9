/// How a connection is secured: upgraded with STARTTLS (RFC 3207), TLS from its first octet
/// (implicit TLS, RFC 8314 §3; submissions on port 465), or not at all. The scenario key
/// `security` and the socket commands' `--implicit-tls` name it.
public enum ConnectionSecurity: String, CaseIterable, Hashable, Sendable, Codable {
    /// Plaintext first, then STARTTLS as the policy demands (today's SMTP between MTAs).
    case startTLS = "starttls"
    /// The TLS handshake starts when the connection opens; the greeting and everything after it
    /// travel inside TLS, and the EHLO reply offers no STARTTLS (RFC 8314 §3.3).
    case implicitTLS = "implicit-tls"
    /// No TLS: a server that does not offer STARTTLS, a client that never asks for it.
    case none

    /// The connection has a plaintext phase before TLS (what an attacker at the STARTTLS
    /// boundary needs: docs/catalog.md B, D).
    public var hasPlaintextPhase: Bool { self != .implicitTLS }
}
