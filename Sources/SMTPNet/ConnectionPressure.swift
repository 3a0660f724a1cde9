import Synchronization

/// How many connections `serve` holds, from whom, and whether it is under stress: the limits
/// that keep idle connections from locking real clients out (RFC 5321 §3.8 allows the 421;
/// Postfix's `smtpd_client_connection_count_limit` and `smtpd_timeout = ${stress?10}{300}s` are
/// the model).
public struct ConnectionLimits: Hashable, Sendable {
    /// Connections served at once; past it a new one waits up to `admissionWait` for a slot,
    /// then gets 421 4.3.2.
    public var maximumConcurrent = 64
    /// Connections at once from one client address; past it, 421 4.7.0 at once.
    public var maximumPerClient = 16
    /// Under stress (at least `stressThreshold` connections open) a session idle this long is
    /// closed (the server's idle timer is cut to it).
    public var stressIdleSeconds: Double = 10
    /// How long a connection that found every slot taken waits for one before its 421.
    public var admissionWait: Double = 15
    /// At most this many connections wait for a slot; more get 421 at once.
    public var maximumWaiting = 64

    public init() {}

    /// Stress begins at three quarters of the cap: idle sessions are trimmed before a fresh
    /// client finds every slot taken.
    public var stressThreshold: Int { max(1, maximumConcurrent * 3 / 4) }
}

/// The live counts behind `ConnectionLimits` (one per listener, shared by its sessions).
public final class ConnectionPressure: Sendable {
    public enum Admission: Equatable, Sendable {
        case admitted
        /// The client's address holds `maximumPerClient` connections already.
        case tooManyFromClient
        /// Every slot stayed taken for the whole admission wait (or too many were waiting).
        case full
    }

    private struct State {
        var open = 0
        var waiting = 0
        var byClient: [String: Int] = [:]  // lookups only
    }

    public let limits: ConnectionLimits
    private let state = Mutex(State())

    public init(_ limits: ConnectionLimits) {
        self.limits = limits
    }

    public var open: Int { state.withLock { $0.open } }
    public var stressed: Bool { open >= limits.stressThreshold }

    /// Takes a slot for `client` (its address, without the port), waiting for one if every slot
    /// is taken; `release` gives it back.
    public func admit(_ client: String) async -> Admission {
        enum Step { case done(Admission), wait }
        func attempt(firstTime: Bool) -> Step {
            state.withLock { s in
                if s.byClient[client, default: 0] >= limits.maximumPerClient { return .done(.tooManyFromClient) }
                if s.open < limits.maximumConcurrent {
                    s.open += 1
                    s.byClient[client, default: 0] += 1
                    if !firstTime { s.waiting -= 1 }
                    return .done(.admitted)
                }
                if firstTime {
                    guard s.waiting < limits.maximumWaiting else { return .done(.full) }
                    s.waiting += 1
                }
                return .wait
            }
        }
        if case .done(let a) = attempt(firstTime: true) { return a }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(limits.admissionWait * 1000))
        while clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            if case .done(let a) = attempt(firstTime: false) {
                if a != .admitted { state.withLock { $0.waiting -= 1 } }
                return a
            }
        }
        state.withLock { $0.waiting -= 1 }
        return .full
    }

    public func release(_ client: String) {
        state.withLock { s in
            s.open -= 1
            let n = s.byClient[client, default: 1] - 1
            s.byClient[client] = n > 0 ? n : nil
        }
    }

    /// What a session's idle timer may wait now: the stress timeout under stress, else nil.
    public var idleClamp: Double? { stressed ? limits.stressIdleSeconds : nil }
}
