import SMTPCore

/// What a TLS handshake achieved, as the driver's TLS engine reports it. (SMTPClient does not
/// import SMTPTLS: STARTTLS is an action the driver carries out.)
public struct TLSHandshakeResult: Hashable, Sendable {
    public var established: Bool
    /// The server's certificate verified (PKIX and name, or the pin).
    public var peerVerified: Bool
    public var version: String?
    /// The failure class name (`certificate-expired`, …) when the handshake failed or the
    /// certificate did not verify.
    public var failure: String?
    /// RFC 8460 §4.3 result type of `failure`.
    public var rfc8460ResultType: TLSResultType?

    public init(established: Bool, peerVerified: Bool, version: String? = nil, failure: String? = nil, rfc8460ResultType: TLSResultType? = nil) {
        self.established = established
        self.peerVerified = peerVerified
        self.version = version
        self.failure = failure
        self.rfc8460ResultType = rfc8460ResultType
    }
}

/// The result types of SMTP TLS Reporting (RFC 8460 §4.3): what a sending MTA reports about a
/// TLS failure it met.
public enum TLSResultType: String, CaseIterable, Hashable, Sendable, Codable {
    /// §4.3.1 (negotiation): the server did not offer STARTTLS, or refused it.
    case starttlsNotSupported = "starttls-not-supported"
    case certificateHostMismatch = "certificate-host-mismatch"
    case certificateExpired = "certificate-expired"
    case certificateNotTrusted = "certificate-not-trusted"
    /// §4.3.3 (general): any other failure to validate or negotiate.
    case validationFailure = "validation-failure"
    /// §4.3.2 (policy): DANE and MTA-STS.
    case tlsaInvalid = "tlsa-invalid"
    case dnssecInvalid = "dnssec-invalid"
    case daneRequired = "dane-required"
    case stsPolicyFetchError = "sts-policy-fetch-error"
    case stsPolicyInvalid = "sts-policy-invalid"
    case stsWebpkiInvalid = "sts-webpki-invalid"
}

public enum ClientTimer: String, Hashable, Sendable {
    /// Waiting for a reply.
    case reply
    /// Waiting for the TLS handshake.
    case handshake
}

/// What the driver must do for the client, in order.
public enum ClientAction: Hashable, Sendable {
    case send([UInt8])
    /// A 220 answered STARTTLS: start the TLS handshake now. The client dropped the reply bytes it
    /// had buffered after the 220 (RFC 3207 §4.2): their count.
    case startTLS(discardedReplyBytes: Int)
    case close
    case setTimer(ClientTimer, after: Int64)
    case cancelTimer(ClientTimer)
    /// A message's outcome on this connection.
    case outcome(MessageOutcome)
    case note(ClientNote)
    /// The TLS session has ended: read the link as plaintext again. Only a flaw asks for this
    /// (`readsAfterCloseNotify`, docs/catalog.md I8).
    case resumePlaintext
}

/// Observations for traces and oracles.
public enum ClientNote: Hashable, Sendable {
    case reply(SMTPReply)
    case capabilities(EHLOCapabilities, afterTLS: Bool)
    case protocolError(SMTPError)
    /// The client goes on without TLS (opportunistic), or without a verified certificate.
    case downgrade(String)
    /// Reply bytes kept across STARTTLS (flaw).
    case keptRepliesAcrossStartTLS(octets: Int)
    /// The pre-TLS capability list was kept after TLS (flaw).
    case keptPreTLSCapabilities
    /// The post-TLS capability list was built from post-TLS traffic only.
    case capabilitiesResetAfterTLS
    /// Rule `index` (of `ClientConfiguration.rules`) fired at the reply to `answering`.
    case ruleFired(index: Int, answering: String)
}

public enum DeliveryStatus: String, Hashable, Sendable, Codable {
    case delivered
    case temporaryFailure = "temporary-failure"
    case permanentFailure = "permanent-failure"

    /// The message's status from its recipients' (RFC 5321 §4.2.5, §6.1): deferred while any
    /// recipient is, delivered when some recipient has it and none waits, refused when all were.
    public static func of(_ recipients: [RecipientOutcome]) -> DeliveryStatus? {
        guard !recipients.isEmpty else { return nil }
        if recipients.contains(where: { $0.status == .temporaryFailure }) { return .temporaryFailure }
        if recipients.contains(where: { $0.status == .delivered }) { return .delivered }
        return .permanentFailure
    }
}

/// What became of a message for one recipient.
public struct RecipientOutcome: Hashable, Sendable, CustomStringConvertible {
    public var recipient: ForwardPath
    public var status: DeliveryStatus
    /// The reply that decided it: the refusal of its RCPT, or the transaction's final reply.
    public var reply: SMTPReply?
    /// The connection broke after the end of data: the server may hold the message for this
    /// recipient, and a retry may duplicate it (RFC 5321 §4.5.3.2.6).
    public var possibleDuplicate = false
    /// The attempt that decided it.
    public var attempt = 1

    public init(recipient: ForwardPath, status: DeliveryStatus, reply: SMTPReply? = nil, possibleDuplicate: Bool = false, attempt: Int = 1) {
        self.recipient = recipient
        self.status = status
        self.reply = reply
        self.possibleDuplicate = possibleDuplicate
        self.attempt = attempt
    }

    /// `delivered`, `temporary-failure`, `permanent-failure` or `possible-duplicate` (a deferral
    /// after the end of data): the expectation vocabulary's names.
    public var statusName: String { possibleDuplicate && status == .temporaryFailure ? "possible-duplicate" : status.rawValue }

    /// `<carol@example.net>: temporary-failure (451 4.3.0 try later)`.
    public var description: String { "\(recipient): \(statusName)\(reply.map { " (\($0))" } ?? "")" }
}

extension MessageOutcome {
    /// The recipients' outcomes worth showing beside the message's: all of them when a message
    /// has several or when one differs from the message's status, none otherwise.
    public var recipientLines: [String] {
        recipients.count > 1 || recipients.contains { $0.status != status } ? recipients.map(\.description) : []
    }
}

/// What happened to one message on one connection attempt.
public struct MessageOutcome: Hashable, Sendable {
    public var messageID: String
    /// The message as a whole: `delivered` when every recipient has it or was refused for good,
    /// `temporaryFailure` while any recipient is deferred (it is retried for those alone, RFC
    /// 5321 §4.2.5, §6.1), `permanentFailure` when every recipient was refused for good.
    public var status: DeliveryStatus
    public var reason: String
    /// The reply that decided it, if a reply did.
    public var reply: SMTPReply?
    /// RFC 8460 result type when TLS decided it (`starttls-not-supported`, `certificate-expired`…).
    public var tlsResultType: TLSResultType?
    /// The connection broke after the final dot and before the reply: the server may have the
    /// message (RFC 5321 §4.5.3.2.6); a retry may duplicate it.
    public var possibleDuplicate = false
    /// Recipients the server refused.
    public var refusedRecipients: [ForwardPath] = []
    /// Each recipient's own outcome, in the message's order (RFC 5321 §4.2.5: a 4yz to one RCPT
    /// leaves that recipient to be retried; the message is not delivered to it).
    public var recipients: [RecipientOutcome] = []
    /// Whether the message went over TLS.
    public var overTLS = false
    public var attempt = 1

    public init(messageID: String, status: DeliveryStatus, reason: String, reply: SMTPReply? = nil, tlsResultType: TLSResultType? = nil) {
        self.messageID = messageID
        self.status = status
        self.reason = reason
        self.reply = reply
        self.tlsResultType = tlsResultType
    }
}
