/// The oracles checked on every run (docs/design.md "Oracles").
public enum Oracle: String, CaseIterable, Hashable, Sendable, Codable {
    /// No AUTH, envelope or message byte in plaintext under a policy that requires TLS.
    case plaintextExposure = "plaintext-exposure"
    /// Nothing received before the handshake is acted on after it.
    case tlsBoundary = "tls-boundary"
    /// After STARTTLS both sides forget what they learnt in plaintext.
    case stateReset = "state-reset"
    /// Replies follow RFC 5321 §4.2; one reply per command.
    case replyGrammar = "reply-grammar"
    /// The server accepts exactly the messages the honest client sent.
    case transactionCount = "transaction-count"
    /// Delivered bodies arrive byte for byte.
    case roundTrip = "round-trip"
    /// Every session reaches an outcome within the configured time and event budget.
    case liveness
    /// Outcomes are classified consistently with what the server did.
    case outcomeClassification = "outcome-classification"
    /// After a TLS session ends (close_notify or a fatal alert), nothing later on the connection
    /// is acted on and nothing is sent in the clear (docs/catalog.md I).
    case tlsTeardown = "tls-teardown"
    /// Through a relay, the server behind it accepts only messages the clients sent: a message
    /// nobody sent is smuggled (the relay passed a sequence the server read as the end of data;
    /// docs/catalog.md G2, G3).
    case smuggling
}

/// An oracle violation, with where it happened, who is at fault and why it matters.
public struct Finding: Hashable, Sendable, CustomStringConvertible {
    public var oracle: Oracle
    /// The side at fault; nil where the run as a whole broke the rule (liveness, a body that
    /// changed on the way, a message accepted twice) and either side may be the cause.
    public var side: Side?
    /// The trace event that shows it.
    public var eventIndex: Int
    public var explanation: String
    /// RFC section or CVE.
    public var reference: String

    public init(oracle: Oracle, side: Side? = nil, eventIndex: Int, explanation: String, reference: String) {
        self.oracle = oracle
        self.side = side
        self.eventIndex = eventIndex
        self.explanation = explanation
        self.reference = reference
    }

    public var description: String { "\(label) at event \(eventIndex): \(explanation) [\(reference)]" }

    /// The finding without its event index (a real session's log has no trace indices).
    public var summary: String { "\(label): \(explanation) [\(reference)]" }

    /// `plaintext-exposure (client)`: the oracle and the side at fault.
    public var label: String { oracle.rawValue + (side.map { " (\($0.rawValue))" } ?? "") }
}
