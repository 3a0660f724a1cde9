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
    public var maximumWaiting = 256
    /// A new connection that finds every slot taken takes the slot of the session that has made
    /// the least progress (no completed line for the longest time), if that is at least this long
    /// (then that session gets 421 4.3.2 and closes): idle and trickling connections cannot keep
    /// a fresh client waiting (issue 27: 200 idle connections won every freed slot).
    public var evictAfterSeconds: Double = 2
    /// Loopback clients (127.0.0.0/8, ::1) are not held to `maximumPerClient`, as Postfix exempts
    /// `$mynetworks` from its per-client limits: a fault server for CI serves its own test traffic.
    public var exemptLoopback = true

    public init() {}

    /// Whether `maximumPerClient` applies to `client` (an address without its port).
    public func limitsPerClient(_ client: String) -> Bool {
        !(exemptLoopback && (client.hasPrefix("127.") || client == "::1" || client.hasPrefix("::ffff:127.")))
    }

    /// Stress begins at three quarters of the cap: idle sessions are trimmed before a fresh
    /// client finds every slot taken.
    public var stressThreshold: Int { max(1, maximumConcurrent * 3 / 4) }
}

/// The live counts behind `ConnectionLimits` (one per listener, shared by its sessions). A
/// connection that finds every slot taken takes the slot of the session with the least progress
/// (`evictAfterSeconds`), or waits for one: the newest waiter first (under a flood the oldest
/// waiters are the flood), a slot a closing session hands over or one a stalled session gives up
/// (checked every `evictionCheck`), or `admissionWait`, whichever comes first.
public final class ConnectionPressure: Sendable {
    public enum Admission: Equatable, Sendable {
        case admitted
        /// The client's address holds `maximumPerClient` connections already.
        case tooManyFromClient
        /// Every slot stayed taken for the whole admission wait (or too many were waiting).
        case full
    }

    private struct Waiter {
        var ticket: Int
        var client: String
        var continuation: CheckedContinuation<Admission, Never>
    }

    private struct State {
        var open = 0
        var byClient: [String: Int] = [:]  // lookups only
        var line: [Waiter] = []
        var nextTicket = 0
        /// Sessions that may be evicted, by id: their last progress and how to end them.
        var sessions: [String: Tracked] = [:]  // lookups, and a scan for the least progress (ties by id)
        /// Sessions evicted whose slot a new connection took: their release frees no slot.
        var handedOver: Set<String> = []
    }

    private struct Tracked {
        var progress: ContinuousClock.Instant
        var evict: @Sendable () -> Void
    }

    public let limits: ConnectionLimits
    private let state = Mutex(State())

    public init(_ limits: ConnectionLimits) {
        self.limits = limits
    }

    public var open: Int { state.withLock { $0.open } }
    public var waiting: Int { state.withLock { $0.line.count } }
    public var stressed: Bool { open >= limits.stressThreshold }

    /// How often a waiting connection looks for a session to evict.
    static let evictionCheck = Duration.milliseconds(250)

    /// The evictable session with the least progress (ties by id), if any.
    private func victim(in s: State) -> (id: String, evict: @Sendable () -> Void)? {
        let now = ContinuousClock.now
        let threshold = Duration.milliseconds(Int64(limits.evictAfterSeconds * 1000))
        return s.sessions.filter { now - $0.value.progress >= threshold }
            .min { ($0.value.progress, $0.key) < ($1.value.progress, $1.key) }
            .map { ($0.key, $0.value.evict) }
    }

    /// Takes a slot for `client` (its address, without the port): a free one, the slot of the
    /// session with the least progress, or one it waits in line for; `release` gives it back.
    public func admit(_ client: String) async -> Admission {
        let ticket = state.withLock { s in
            s.nextTicket += 1
            return s.nextTicket
        }
        let wait = limits.admissionWait
        return await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
            var evict: (@Sendable () -> Void)?
            let immediate: Admission? = state.withLock { s in
                if limits.limitsPerClient(client), s.byClient[client, default: 0] >= limits.maximumPerClient { return .tooManyFromClient }
                if s.open < limits.maximumConcurrent, s.line.isEmpty {
                    s.open += 1
                    s.byClient[client, default: 0] += 1
                    return .admitted
                }
                // Every slot taken: the session with the least progress gives its slot up.
                if let (id, end) = victim(in: s) {
                    s.sessions[id] = nil
                    s.handedOver.insert(id)
                    s.byClient[client, default: 0] += 1
                    evict = end
                    return .admitted
                }
                guard s.line.count < limits.maximumWaiting else { return .full }
                s.line.append(Waiter(ticket: ticket, client: client, continuation: continuation))
                return nil
            }
            evict?()
            if let immediate { return continuation.resume(returning: immediate) }
            // While it waits, the newest waiter takes the slot of a session that has stalled since;
            // out of line after the admission wait, unless a slot came first.
            Task {
                let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
                while ContinuousClock.now < deadline {
                    try? await Task.sleep(for: min(Self.evictionCheck, deadline - ContinuousClock.now))
                    let taken: (Waiter, @Sendable () -> Void)?? = self.state.withLock { s in
                        guard let i = s.line.firstIndex(where: { $0.ticket == ticket }) else { return .some(nil) }  // admitted meanwhile
                        guard i == s.line.count - 1, let (id, end) = self.victim(in: s) else { return nil }
                        let w = s.line.remove(at: i)
                        s.sessions[id] = nil
                        s.handedOver.insert(id)
                        s.byClient[w.client, default: 0] += 1
                        return .some((w, end))
                    }
                    switch taken {
                    case .some(.some(let (w, end))):
                        end()
                        return w.continuation.resume(returning: .admitted)
                    case .some(.none): return
                    case .none: continue
                    }
                }
                let expired: Waiter? = self.state.withLock { s in
                    guard let i = s.line.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                    return s.line.remove(at: i)
                }
                expired?.continuation.resume(returning: .full)
            }
        }
    }

    /// A session `id` of `client` runs: it can be evicted with `evict` until it ends.
    public func started(_ id: String, evict: @escaping @Sendable () -> Void) {
        state.withLock { $0.sessions[id] = Tracked(progress: .now, evict: evict) }
    }

    /// Session `id` completed a line.
    public func progress(_ id: String) {
        state.withLock { s in s.sessions[id]?.progress = .now }
    }

    /// Gives `client`'s slot back (session `id`): to the first connection in line, or to the
    /// pool; an evicted session's slot was handed over already.
    public func release(_ client: String, id: String? = nil) {
        let next: Waiter? = state.withLock { s in
            let n = s.byClient[client, default: 1] - 1
            s.byClient[client] = n > 0 ? n : nil
            if let id {
                s.sessions[id] = nil
                if s.handedOver.remove(id) != nil { return nil }
            }
            guard !s.line.isEmpty else {
                s.open -= 1
                return nil
            }
            // The newest waiter first: under a flood the ones that waited longest are the flood.
            let w = s.line.removeLast()
            s.byClient[w.client, default: 0] += 1
            return w
        }
        next?.continuation.resume(returning: .admitted)
    }

    /// What a session's idle timer may wait now: the stress timeout under stress, else nil.
    public var idleClamp: Double? { stressed ? limits.stressIdleSeconds : nil }
}
