import EndpointHosting

/// A word the learner asked, as a client script (docs/scenario-format.md "Scripts") that asks it
/// again and expects the answers the learned machine gives: how `smtpsim learn --export` makes a
/// difference between two machines something `smtpsim run` reproduces, in the simulator or
/// against the server (docs/design.md "Learning").
public enum LearnedScript {
    /// The extensions an EHLO reply's output marks (`250(STARTTLS,AUTH)`, `LearningInput.output`).
    static let marks = ["STARTTLS", "AUTH"]
    /// How long a `timeout` output (no reply) is waited out: one simulated second (the
    /// in-memory server answers at once or not at all; on a socket, `--quiet` decides).
    public static let silence: Int64 = 1_000_000_000

    /// The steps: the greeting, then each input with what its output says comes back; the
    /// script ends where the connection does (`closed`) or with a close of its own.
    public static func steps(_ word: [LearningInput], outputs: [String]) -> [ScriptStep] {
        var steps: [ScriptStep] = [.expect("220")]
        for (input, output) in zip(word, outputs) {
            let parts = output.split(separator: "+").map(String.init)
            switch input {
            case .handshake:
                if !parts.contains("tls-active"), !parts.contains("tls-ended") { steps.append(.startTLS) }
            case .closeNotify: steps.append(.closeNotify)
            case .alert: steps.append(.alert(.badRecordMAC))
            case .ehlo, .helo, .mail, .rcpt, .data, .body, .bodyBareLF, .bdat, .rset, .noop, .quit, .auth, .starttls, .starttlsPipelined:
                steps.append(.send(String(decoding: input.octets ?? [], as: UTF8.self)))
            }
            if parts == ["timeout"] { steps.append(.expectNothing(silence)) }
            for part in parts {
                if part == "closed" { return steps + [.expectClose] }
                if part == "tls-failed" { return steps }  // the script closes after a failed handshake
                let reply = part.hasPrefix("clear:") ? String(part.dropFirst(6)) : part
                guard let code = reply.first, code.isNumber else { continue }  // timeout, tls, tls-active, no-tls
                let number = String(reply.prefix(3))
                if input == .ehlo || reply.count > 3 {
                    let marked = reply.count > 3 ? reply.dropFirst(4).dropLast().split(separator: ",").map(String.init) : []
                    steps.append(.expectReply(code: number, advertises: marked, withholds: marks.filter { !marked.contains($0) }))
                } else {
                    steps.append(.expect(number))
                }
            }
        }
        return steps + [.close]
    }

    /// Whether the word's answers include a failed handshake (the script then notes
    /// `script: TLS failed` rather than an expectation).
    public static func failsHandshake(_ outputs: [String]) -> Bool {
        outputs.contains { $0.split(separator: "+").contains("tls-failed") }
    }
}

/// One shortest word on which a learned machine and a reference disagree, with both answers:
/// what `--diff` lists and `--export` writes as a scenario.
public struct LearnedDifference: Sendable {
    public var word: [LearningInput]
    /// The learned machine's outputs, input by input.
    public var here: [String]
    /// The reference's.
    public var there: [String]

    /// Each word of `differences(from:)` whose inputs are all `LearningInput`s.
    public static func all(_ machine: MealyMachine, from reference: MealyMachine, limit: Int = 10) -> [LearnedDifference] {
        machine.differences(from: reference, limit: limit).compactMap { word in
            let inputs = word.compactMap { LearningInput(rawValue: machine.inputs[$0]) }
            guard !word.isEmpty, inputs.count == word.count else { return nil }
            return LearnedDifference(word: inputs, here: machine.run(word), there: reference.run(word))
        }
    }

    public var words: String { word.map(\.rawValue).joined(separator: " ") }

    /// `EHLO STARTTLS HANDSHAKE STARTTLS: 220 here, 502 there`.
    public var summary: String { "\(words): \(here.last ?? "") here, \(there.last ?? "") there" }

    /// The client script that asks the word and expects this machine's answers.
    public var steps: [ScriptStep] { LearnedScript.steps(word, outputs: here) }

    /// What the scenario's trace must hold and lack for the run to answer as this machine did:
    /// no expectation missed, and a failed handshake exactly where the machine's was.
    public var traceContains: [String] { LearnedScript.failsHandshake(here) ? ["script: TLS failed"] : [] }
    public var traceLacks: [String] { ["script: expected"] + (LearnedScript.failsHandshake(here) ? [] : ["script: TLS failed"]) }
}
