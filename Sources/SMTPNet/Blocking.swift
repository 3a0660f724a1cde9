import Dispatch
import Synchronization

/// Runs `body` as a detached task and waits for it on the caller's thread: how a synchronous
/// caller (the learner, `smtpsim run --against`) drives the sockets. Never call it from inside
/// the task pool, whose threads the wait would hold.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        box.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try box.withLock { $0! }.get()
}
