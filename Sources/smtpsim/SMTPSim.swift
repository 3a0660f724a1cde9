import ArgumentParser

/// The smtpsim command-line tool. One subcommand per file.
@main
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
                      Serve.self, Send.self, ProxyCommand.self, ProbeCommand.self]
    )
}
