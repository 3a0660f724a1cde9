import EndpointHosting
import SMTPClient
import SMTPServer

/// How a run ended: its trace, findings and outcomes (the CLI maps them to exit statuses).
public struct RunResult: Sendable {
    public var seed: UInt64
    public var trace: Trace
    public var findings: [Finding]
    /// Final outcome per intended message, in client order.
    public var outcomes: [MessageOutcome]
    /// Messages the server accepted (with a relay: the server behind it).
    public var accepted: [AcceptedMessage]
    /// Messages the relay accepted from the clients (empty without a relay).
    public var relayed: [AcceptedMessage] = []
    /// The outcome of each message the relay forwarded, in order (empty without a relay).
    public var forwarded: [MessageOutcome] = []
    public var events: Int
    /// Simulated nanoseconds when the run ended.
    public var duration: Int64
    public var connections: Int
    public var keyLogLines: [String]
    /// Attacker actions (their names) that were not applicable on some connection: it was TLS
    /// from its first octet, and they need a plaintext phase (RFC 8314 §3).
    public var attacksNotApplicable: [String] = []

    /// The trace's digest (nil when the run only counted its events).
    public var digest: String? { trace.digest }
    public var passed: Bool { findings.isEmpty }

    public enum Verdict: String, Sendable {
        case delivered, temporaryFailure = "temporary-failure", permanentFailure = "permanent-failure", findings
    }
}
