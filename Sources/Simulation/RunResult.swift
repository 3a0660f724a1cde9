import SMTPClient
import SMTPServer

/// How a run ended: its trace, findings and outcomes (the CLI maps them to exit statuses).
public struct RunResult: Sendable {
    public var seed: UInt64
    public var trace: Trace
    public var findings: [Finding]
    /// Final outcome per intended message, in client order.
    public var outcomes: [MessageOutcome]
    /// Messages the server accepted.
    public var accepted: [AcceptedMessage]
    public var events: Int
    /// Simulated nanoseconds when the run ended.
    public var duration: Int64
    public var connections: Int
    public var keyLogLines: [String]

    /// The trace's digest (nil when the run only counted its events).
    public var digest: String? { trace.digest }
    public var passed: Bool { findings.isEmpty }

    public enum Verdict: String, Sendable {
        case delivered, temporaryFailure = "temporary-failure", permanentFailure = "permanent-failure", findings
    }
}
