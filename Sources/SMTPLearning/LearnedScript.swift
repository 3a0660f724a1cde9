import EndpointHosting

/// A word the learner asked, as a client script (docs/scenario-format.md "Scripts") that asks it
/// again and expects the answers the learned machine gives: how `smtpsim learn --export` makes a
/// difference between two machines something `smtpsim run` reproduces, in the simulator or
/// against the server (docs/design.md "Learning").
public enum LearnedScript {
    /// The extensions an EHLO reply's output marks (`250(STARTTLS,AUTH)`, `LearningInput.output`).
    static let marks = ["STARTTLS", "AUTH"]

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
