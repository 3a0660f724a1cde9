import NIOCore
import NIOPosix
import Synchronization

/// The one TCP stream type the edge uses: bytes in, bytes out, back-pressured by NIO.
public typealias ByteChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

/// Opening and accepting TCP connections. Everything here has a timeout or a bound.
public enum Sockets {
    static var group: MultiThreadedEventLoopGroup { .singleton }

    /// Connects, or fails with a one-line `NetError` (refused, timed out, unreachable).
    public static func connect(_ address: HostPort, timeout seconds: Double) async throws(NetError) -> ByteChannel {
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(seconds * 1000)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try ByteChannel(wrappingChannelSynchronously: channel) }
                }
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw .connectTimedOut(address, seconds: seconds) }
            throw .connectionFailed(address, "\(error)")
        } catch let error as IOError where error.errnoCode == 111 /* ECONNREFUSED */ {
            throw .connectionRefused(address)
        } catch let error as NIOConnectionError {
            if error.connectionErrors.contains(where: { ($0.error as? IOError)?.errnoCode == 111 }) { throw .connectionRefused(address) }
            if error.connectionErrors.contains(where: { if case .connectTimeout = $0.error as? ChannelError { true } else { false } }) {
                throw .connectTimedOut(address, seconds: seconds)
            }
            if error.dnsAError != nil, error.connectionErrors.isEmpty { throw .connectionFailed(address, "cannot resolve \(address.host)") }
            throw .connectionFailed(address, error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)")
        } catch {
            throw .connectionFailed(address, "\(error)")
        }
    }

    /// Binds a listening socket; each accepted connection arrives as a `ByteChannel`.
    public static func listen(_ address: HostPort, backlog: Int32 = 64) async throws(NetError) -> NIOAsyncChannel<ByteChannel, Never> {
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try ByteChannel(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw .cannotListen(address, "\(error)")
        }
    }

    /// Accepts connections until `maximum` were accepted (nil: until cancelled), each handled
    /// in its own child task with a name (`prefix` + its number) and the number open at
    /// acceptance (itself included). Returns when every handler has finished.
    static func accept(
        on listener: NIOAsyncChannel<ByteChannel, Never>, prefix: String, maximum: Int?,
        _ handle: @escaping @Sendable (ByteChannel, _ id: String, _ open: Int) async -> Void
    ) async throws(NetError) {
        let open = Gauge()
        do {
            try await listener.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    var accepted = 0
                    for try await channel in inbound {
                        if let maximum, accepted >= maximum {
                            // Past the maximum: the listener is closing, and a connection that was
                            // already queued is closed at once (dropping it unfinished would trap
                            // in NIO: every channel's writer must be finished).
                            try? await channel.executeThenClose { _, _ in }
                            continue
                        }
                        accepted += 1
                        let id = "\(prefix)\(accepted)"
                        let now = open.add(1)
                        group.addTask {
                            defer { open.add(-1) }
                            await handle(channel, id, now)
                        }
                        if let maximum, accepted >= maximum { listener.channel.close(promise: nil) }
                    }
                }
            }
        } catch {
            throw .setup("listener failed: \(error)")
        }
    }

    /// A socket error in words (NIO's own text names the syscall and errno).
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case 104: return "connection reset by the peer"
            case 32: return "the peer closed the connection (broken pipe)"
            case 110: return "connection timed out"
            default: break
            }
        }
        return "\(error)"
    }

    /// The port a listener got (for `:0`).
    public static func port(of listener: NIOAsyncChannel<ByteChannel, Never>) -> Int {
        listener.channel.localAddress?.port ?? 0
    }

    /// The peer's address, for logs.
    public static func peer(of channel: ByteChannel) -> String {
        channel.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
    }

    /// The one socket reader of every transport (a session, the proxy's two sides, a scripted
    /// connection): each buffer read goes to `continuation` as `wrap(bytes)`, in order, and
    /// reading pauses while the consumer has not taken more than the valve's limit (it calls
    /// `valve.consumed` as it takes them). Returns at the end of the stream: nil when the peer
    /// closed, what went wrong otherwise.
    static func read<Event>(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, into continuation: AsyncStream<Event>.Continuation, valve: Valve, _ wrap: ([UInt8]) -> Event) async -> String? {
        do {
            for try await buffer in inbound {
                continuation.yield(wrap(Array(buffer: buffer)))
                await valve.queued(buffer.readableBytes)
            }
            return nil
        } catch {
            return describe(error)
        }
    }

    /// Makes the next close an abortive one (RST instead of FIN): the "connection reset" fault.
    static func arrangeReset(_ channel: ByteChannel) async {
        guard let provider = channel.channel as? SocketOptionProvider else { return }
        try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
    }
}

/// A counter shared between the tasks of one listener or session.
final class Gauge: Sendable {
    private let value = Atomic<Int>(0)
    init() {}
    /// Adds `n` (negative to subtract); returns the new value.
    @discardableResult
    func add(_ n: Int) -> Int { value.add(n, ordering: .relaxed).newValue }
}

/// Back-pressure between a socket's reader task and the task that processes what it read: the
/// reader waits while more than `limit` octets are queued, so NIO stops reading and TCP's window
/// closes (RFC 9293 §3.8.6) instead of memory growing or a fast peer being cut off.
final class Valve: Sendable {
    private struct State {
        var queued = 0
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// The reader queued `n` octets; waits until the consumer brought the queue under the limit.
    func queued(_ n: Int) async {
        let over = state.withLock { s -> Bool in
            s.queued += n
            return s.queued > limit
        }
        guard over else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.queued <= limit { return true }
                s.waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    /// The consumer took `n` octets.
    func consumed(_ n: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.queued -= n
            guard s.queued <= limit else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// The consumer is gone: never leave the reader waiting.
    func open() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.queued = Int.min / 2
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}

extension Duration {
    /// The duration in seconds (wall-clock figures in logs, JSON and benchmarks).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
