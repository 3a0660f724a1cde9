import ArgumentParser
import Dispatch
import Foundation

/// The smtpsim command-line tool. One subcommand per file.
struct SMTPSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smtpsim",
        abstract: "A deterministic SMTP/STARTTLS protocol simulator and fuzzing harness.",
        discussion: Help.reflow("""
            smtpsim parses, simulates and attacks SMTP with STARTTLS (RFC 5321, RFC 3207).
            Exit codes: 0 success, 1 findings or failed expectations, 2 bad input or usage,
            3 deferred (or the peer could not be reached), 4 refused.
            """),
        version: "0.1.0",
        subcommands: [Run.self, Sweep.self, Merge.self, Replay.self, Faults.self, Simulate.self, Fuzz.self, Parse.self, TLS.self, Bench.self,
                      Serve.self, Send.self, ProxyCommand.self, ProbeCommand.self, MatrixCommand.self, Learn.self]
    )
}

/// The entry point. Synchronous subcommands (run, sweep, bench, fuzz, …) run on the main thread
/// without the async runtime, which is what lets valgrind follow them (README, "Profiling":
/// valgrind 3.19 dies when the main thread leaves through libdispatch's dispatch_main); the
/// network commands, which are async, run as a task while the main thread waits.
@main
enum Main {
    static func main() {
        let command: ParsableCommand
        do {
            command = try SMTPSim.parseAsRoot()
        } catch {
            fail(error)
        }
        guard let asynchronous = command as? AsyncParsableCommand else {
            do {
                var command = command
                try command.run()
                SMTPSim.exit()
            } catch {
                fail(error)
            }
        }
        let outcome = AsyncOutcome()
        let box = CommandBox(asynchronous)
        Task.detached {
            do {
                var command = box.command
                try await command.run()
            } catch {
                outcome.error = error
            }
            outcome.done.signal()
        }
        outcome.done.wait()
        if let error = outcome.error { fail(error) }
        SMTPSim.exit()
    }

    /// One exit-code map (`ExitStatus`, every help): a usage error or an unreadable path is a bad
    /// argument, 2, not ArgumentParser's EX_USAGE 64; everything else exits as it says.
    static func fail(_ error: any Error) -> Never {
        guard SMTPSim.exitCode(for: error) == .validationFailure else { SMTPSim.exit(withError: error) }
        let message = SMTPSim.fullMessage(for: error)
        if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        Foundation.exit(ExitStatus.badInput.rawValue)
    }
}

/// An async command handed to the task that runs it (parsed once, on the main thread).
private final class CommandBox: @unchecked Sendable {
    let command: AsyncParsableCommand
    init(_ command: AsyncParsableCommand) { self.command = command }
}

/// What the task reports back to the waiting main thread.
private final class AsyncOutcome: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var error: Error?
}
