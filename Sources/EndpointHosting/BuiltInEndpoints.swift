import SMTPClient
import SMTPCore
import SMTPServer

// MARK: - smtpsim's server

/// `SMTPServerConnection` as a simulated endpoint.
public final class BuiltInServerEndpoint: SimulatedEndpoint {
    public let role = EndpointRole.server
    public private(set) var machine: SMTPServerConnection
    /// Called for every accepted message (a driver outside the simulator keeps its own maildrop).
    public var onDeliver: ((AcceptedMessage) -> Void)?
    /// Called with the machine's own actions before they become endpoint actions (a test that
    /// reads the typed notes).
    public var onActions: (([ServerAction]) -> Void)?

    public init(configuration: ServerConfiguration, connectionID: String) {
        machine = SMTPServerConnection(configuration: configuration, connectionID: connectionID)
    }

    public func start() -> [EndpointAction] { map(machine.start()) }
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] { map(machine.receive(bytes)) }
    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        map(report.established ? machine.tlsEstablished() : machine.tlsFailed())
    }
    public func timerFired(_ id: TimerID) -> [EndpointAction] {
        guard case .server(let timer) = id else { return [] }
        return map(machine.timerFired(timer))
    }
    public func peerClosed() -> [EndpointAction] { map(machine.peerClosed()) }
    public func shutdown() -> [EndpointAction] { map(machine.shutdown()) }
    public func tlsEnded(_ end: TLSEnd) -> [EndpointAction] { map(machine.tlsSessionEnded(byAlert: end.byAlert)) }

    private func map(_ actions: [ServerAction]) -> [EndpointAction] {
        onActions?(actions)
        var out: [EndpointAction] = []
        out.reserveCapacity(actions.count + 1)  // a STARTTLS adds its note
        for action in actions {
            switch action {
            case .send(let b): out.append(.send(b))
            case .startTLS(let n):
                out.append(machine.configuration.implicitTLS ? .note(Note.implicitTLS) : .note(Note(.discarded(octets: n, what: "plaintext"))))
                out.append(.startTLS)
            case .close: out.append(.close)
            case .setTimer(let t, let after): out.append(.setTimer(.server(t), after: after))
            case .cancelTimer(let t): out.append(.cancelTimer(.server(t)))
            case .deliver(let m):
                onDeliver?(m)
                out.append(.note(Note(.accepted(m))))
            case .note(let n): out.append(.note(Note(.server(n))))
            case .resumePlaintext:
                out.append(.resumePlaintext)
            }
        }
        return out
    }

}

// MARK: - smtpsim's client

/// `SMTPClientConnection` as a simulated endpoint.
public final class BuiltInClientEndpoint: SimulatedEndpoint {
    public let role = EndpointRole.client
    public private(set) var machine: SMTPClientConnection
    /// Called with the machine's own actions before they become endpoint actions (a test that
    /// reads the typed notes and outcomes).
    public var onActions: (([ClientAction]) -> Void)?

    public init(machine: SMTPClientConnection) {
        self.machine = machine
    }

    public func start() -> [EndpointAction] { map(machine.start()) }
    public func receive(_ bytes: [UInt8]) -> [EndpointAction] { map(machine.receive(bytes)) }
    public func tlsFinished(_ report: TLSReport) -> [EndpointAction] {
        map(machine.tlsHandshakeFinished(TLSHandshakeResult(
            established: report.established, peerVerified: report.peerVerified, version: report.version,
            failure: report.failure?.rawValue, rfc8460ResultType: report.rfc8460ResultType)))
    }
    public func timerFired(_ id: TimerID) -> [EndpointAction] {
        guard case .client(let timer) = id else { return [] }
        return map(machine.timerFired(timer))
    }
    public func peerClosed() -> [EndpointAction] { map(machine.peerClosed()) }
    public func tlsEnded(_ end: TLSEnd) -> [EndpointAction] { map(machine.tlsSessionEnded(byAlert: end.byAlert)) }

    private func map(_ actions: [ClientAction]) -> [EndpointAction] {
        onActions?(actions)
        var out: [EndpointAction] = []
        out.reserveCapacity(actions.count + 1)  // a STARTTLS adds its note
        for action in actions {
            switch action {
            case .send(let b): out.append(.send(b))
            case .startTLS(let n):
                out.append(machine.configuration.implicitTLS ? .note(Note.implicitTLS) : .note(Note(.discarded(octets: n, what: "buffered reply"))))
                out.append(.startTLS)
            case .close: out.append(.close)
            case .setTimer(let t, let after): out.append(.setTimer(.client(t), after: after))
            case .cancelTimer(let t): out.append(.cancelTimer(.client(t)))
            case .outcome(let o): out.append(.note(Note(.outcome(o))))
            case .note(let n): out.append(.note(Note(.client(n))))
            case .resumePlaintext:
                out.append(.resumePlaintext)
            }
        }
        return out
    }

}
