import SMTPCore

/// A client endpoint that only reads: what arrives goes to a reply parser (and to `onReceive`),
/// the handshake's end is kept, the peer's close is noted; replies from before the handshake are
/// dropped when it succeeds (RFC 3207 §4.2: nothing from before counts). The learner's client and
/// the probe's scripted connection are both this; they write through their host.
public final class ReplyReader: SimulatedEndpoint {
    public let role = EndpointRole.client
    public var replies = ReplyParser()
    public var handshake: TLSReport?
    public private(set) var closed = false
    /// Called with each arrival, after it went to `replies`.
    public var onReceive: ([UInt8]) -> Void = { _ in }

    public init() {}

    public func start() -> [EndpointAction] { [] }
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] {
        replies.append(bytes)
        onReceive(bytes)
        return []
    }
    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        handshake = report
        if report.established { replies = ReplyParser() }
        return []
    }
    public func timerFired(_ id: TimerID) -> [EndpointAction] { [] }
    public func peerClosed() -> [EndpointAction] {
        closed = true
        return []
    }
}
