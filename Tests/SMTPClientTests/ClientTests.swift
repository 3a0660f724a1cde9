import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import XCTest

final class ClientTests: XCTestCase {
    let credentials = Credentials(username: "alice", password: "secret")
    var serverWithAuth: ServerConfiguration { .with { $0.credentials = ["alice": "secret"] } }

    /// Runs a pair with every feeding; outcomes and maildrop must agree.
    private func run(_ pair: Pair, file: StaticString = #filePath, line: UInt = #line) -> Pair {
        var reference: Pair?
        for feeding in Feeding.three {
            var p = pair
            p.feeding = feeding
            p.run()
            if let r = reference {
                XCTAssertEqual(p.outcomes, r.outcomes, "\(feeding)", file: file, line: line)
                XCTAssertEqual(p.maildrop, r.maildrop, "\(feeding)", file: file, line: line)
            } else {
                reference = p
            }
        }
        return reference!
    }

    func testSubmissionWithSTARTTLSAndAuth() throws {
        // docs/catalog.md A1: EHLO → STARTTLS → EHLO again → AUTH → MAIL/RCPT/DATA → QUIT.
        let p = run(Pair(client: .with { $0.policy = .required; $0.credentials = credentials }, server: serverWithAuth, messages: [message()]))
        XCTAssertEqual(p.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(p.outcomes.first?.overTLS, true)
        let m = try XCTUnwrap(p.maildrop.messages.first)
        XCTAssertEqual(m.authenticatedAs, "alice")
        XCTAssertTrue(m.overTLS)
        XCTAssertEqual(m.body, Array("Subject: hi\r\n\r\nhello\r\n".utf8))
        XCTAssertEqual(p.clientPlaintext, "EHLO client.example.test\r\nSTARTTLS\r\n", "nothing else before TLS")
        XCTAssertTrue(p.clientNotes.contains(.capabilitiesResetAfterTLS))
        XCTAssertTrue(p.client.isClosed)
    }

    func testPipelinedGroupsAndSeveralMessages() {
        let p = run(Pair(client: ClientConfiguration(), messages: [message("a"), message("b", to: ["x@example.net", "y@example.net"])]))
        XCTAssertEqual(p.outcomes.map(\.status), [.delivered, .delivered])
        XCTAssertEqual(p.maildrop.messages.map(\.recipients.count), [1, 2])
        // One segment carries MAIL, RCPT… and DATA (RFC 2920).
        let tlsBytes = p.fromClient.filter { $0.epoch == 1 }.map { String(decoding: $0.bytes, as: UTF8.self) }
        XCTAssertTrue(tlsBytes.contains("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n"), "\(tlsBytes)")
    }

    func testWithoutPipeliningOneCommandAtATime() {
        let p = run(Pair(client: .with { $0.usePipelining = false }, messages: [message(to: ["x@example.net", "y@example.net"])]))
        XCTAssertEqual(p.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(p.fromClient.allSatisfy { String(decoding: $0.bytes, as: UTF8.self).components(separatedBy: "\r\n").count <= 2 || $0.bytes.last == 0x0A && String(decoding: $0.bytes, as: UTF8.self).hasSuffix(".\r\n") })
    }

    func testBDATWhenChunkingIsOffered() throws {
        let p = run(Pair(client: .with { $0.useChunking = true }, messages: [message(body: "a\r\n.b\nc")]))
        XCTAssertEqual(p.outcomes.map(\.status), [.delivered])
        let m = try XCTUnwrap(p.maildrop.messages.first)
        XCTAssertTrue(m.viaBDAT)
        XCTAssertEqual(m.body, Array("a\r\n.b\r\nc\r\n".utf8), "normalised, unstuffed, final CRLF added")
    }

    func testAllRecipientsRefusedGetsALoneDot() {
        // docs/catalog.md A2 variant, RFC 2920 §3.1.
        // Our server answers DATA with 503 when no recipient was accepted; a server that says 354
        // anyway must get a lone dot.
        var pair = Pair(client: ClientConfiguration(), server: .with { $0.rejectedRecipients = ["bob@example.net"] }, messages: [message()])
        pair.toClient = { _, b in Attack.replace(b, "503 5.5.1 Bad sequence of commands", "354 go ahead") }
        let p = run(pair)
        XCTAssertEqual(p.outcomes.map(\.status), [.permanentFailure])
        XCTAssertEqual(p.outcomes.first?.refusedRecipients.count, 1)
        XCTAssertEqual(p.maildrop.count, 0)
        let last = p.fromClient.map { String(decoding: $0.bytes, as: UTF8.self) }
        XCTAssertTrue(last.contains(".\r\n"), "\(last)")
    }

    func testPartialRecipientRefusalStillDelivers() {
        let p = run(Pair(client: ClientConfiguration(), server: .with { $0.rejectedRecipients = ["x@example.net"] },
                         messages: [message(to: ["x@example.net", "y@example.net"])]))
        XCTAssertEqual(p.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(p.outcomes.first?.refusedRecipients.map(\.description), ["<x@example.net>"])
    }

    func testStrippedSTARTTLSUnderEachPolicy() {
        // docs/catalog.md B1: the attacker overwrites STARTTLS, keeping the length.
        let strip: (Int, [UInt8]) -> [UInt8] = { _, b in Attack.replace(b, "250-STARTTLS", "250-XXXXXXXX") }
        var required = Pair(client: .with { $0.policy = .required; $0.credentials = credentials }, server: serverWithAuth, messages: [message()])
        required.toClient = strip
        let r = run(required)
        XCTAssertEqual(r.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(r.outcomes.first?.tlsResultType, .starttlsNotSupported)
        XCTAssertFalse(r.clientPlaintext.contains("MAIL"), "no envelope in plaintext")
        XCTAssertFalse(r.clientPlaintext.contains("AUTH"), "no credentials in plaintext")
        XCTAssertEqual(r.maildrop.count, 0)

        var opportunistic = Pair(client: ClientConfiguration(), messages: [message()])
        opportunistic.toClient = strip
        let o = run(opportunistic)
        XCTAssertEqual(o.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(o.maildrop.messages.first?.overTLS, false)
        XCTAssertTrue(o.clientNotes.contains { if case .downgrade = $0 { true } else { false } })

        var flawed = Pair(client: .with { $0.policy = .required; $0.flaws = [.fallsBackToPlaintext] }, messages: [message()])
        flawed.toClient = strip
        XCTAssertEqual(run(flawed).maildrop.messages.first?.overTLS, false, "the flaw delivers in plaintext")
    }

    func testSTARTTLSRefusedOrBogus() {
        // docs/catalog.md B2: 454; B4: a bogus 220 followed by plaintext.
        let refusing = ServerConfiguration.with { $0.tlsAvailable = false }
        let required = run(Pair(client: .with { $0.policy = .required }, server: refusing, messages: [message()]))
        XCTAssertEqual(required.outcomes.first?.tlsResultType, .starttlsNotSupported)
        XCTAssertEqual(required.outcomes.first?.reply?.code.value, 454)
        let opportunistic = run(Pair(client: ClientConfiguration(), server: refusing, messages: [message()]))
        XCTAssertEqual(opportunistic.outcomes.map(\.status), [.delivered])

        var bogus = Pair(client: ClientConfiguration(), server: .with { $0.tlsAvailable = false }, messages: [message()])
        bogus.toClient = { _, b in Attack.replace(b, "454 4.7.0 TLS not available due to temporary reason\r\n", "220 EHLO client!\r\n250 fine\r\n") }
        let p = run(bogus)
        XCTAssertEqual(p.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(p.clientPlaintext, "EHLO client.example.test\r\nSTARTTLS\r\n", "no plaintext command after 220")
    }

    func testCredentialsNeverGoOutInPlaintextEvenWhenTheServerOffersAUTHThere() {
        // RFC 4954 §4 note, docs/catalog.md H6: a server that offers AUTH PLAIN before TLS does
        // not make the client use it there; under every policy it upgrades first, or goes without.
        let offering = ServerConfiguration.with { $0.credentials = ["alice": "secret"]; $0.flaws = [.offersAuthPlainBeforeTLS] }
        for policy in [TLSPolicy.opportunistic, .required] {
            let p = run(Pair(client: .with { $0.policy = policy; $0.credentials = credentials }, server: offering, messages: [message()]))
            XCTAssertFalse(p.clientPlaintext.contains("AUTH"), "\(policy): \(p.clientPlaintext)")
            XCTAssertEqual(p.outcomes.map(\.status), [.delivered], "\(policy)")
        }
        var noTLS = offering
        noTLS.tlsAvailable = false
        let plain = run(Pair(client: .with { $0.policy = .plaintext; $0.credentials = credentials }, server: noTLS, messages: [message()]))
        XCTAssertFalse(plain.clientPlaintext.contains("AUTH"), plain.clientPlaintext)
    }

    func testABareChallengeIsReadTolerantly() {
        // RFC 4954 §4 requires `334 SP`; a server that leaves the SP out still gets its answer
        // from smtpsim's client (RFC 5321 §4.2: a bare code is readable), and the reply-grammar
        // oracle reports the server (JudgmentTests).
        var p = Pair(client: .with { $0.credentials = Credentials(username: "alice", password: "secret", mechanisms: ["LOGIN"]) },
                     server: .with { $0.credentials = ["alice": "secret"] }, messages: [message()])
        p.toClient = { epoch, b in epoch == 1 ? Attack.replace(b, "334 VXNlcm5hbWU6\r\n", "334\r\n") : b }
        let run = run(p)
        let sent = String(decoding: run.fromClient.filter { $0.epoch == 1 }.flatMap(\.bytes), as: UTF8.self)
        XCTAssertTrue(sent.contains("AUTH LOGIN\r\n\(Base64.encode("alice"))\r\n\(Base64.encode("secret"))\r\n"), sent)
        XCTAssertEqual(run.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(run.maildrop.messages.first?.authenticatedAs, "alice")
    }

    func testResponseInjectionAfter220() throws {
        // docs/catalog.md D3: reply lines injected after the 220 in the same segment.
        let inject: (Int, [UInt8]) -> [UInt8] = { _, b in
            Attack.replace(b, "220 2.0.0 Ready to start TLS\r\n", "220 2.0.0 Ready to start TLS\r\n250-evil.example\r\n250 AUTH PLAIN LOGIN\r\n")
        }
        var compliant = Pair(client: ClientConfiguration(), messages: [message()])
        compliant.toClient = inject
        compliant.run()
        XCTAssertEqual(compliant.clientStartTLSDiscards, [40])
        XCTAssertEqual(compliant.outcomes.map(\.status), [.delivered])
        XCTAssertEqual(compliant.client.currentCapabilities.domain, "mx.example.test")

        var flawed = Pair(client: .with { $0.flaws = [.keepsBufferedRepliesAcrossStartTLS] }, messages: [message()])
        flawed.toClient = inject
        flawed.run()
        XCTAssertEqual(flawed.clientStartTLSDiscards, [0])
        XCTAssertTrue(flawed.clientNotes.contains(.keptRepliesAcrossStartTLS(octets: 40)))
        XCTAssertTrue(flawed.clientNotes.contains { if case .capabilities(let c, afterTLS: true) = $0 { c.domain == "evil.example" } else { false } },
                      "the injected reply was taken as the post-TLS EHLO reply")
    }

    func testPreTLSCapabilitiesAreForgotten() {
        // docs/catalog.md D4: the attacker adds CHUNKING to the plaintext list only.
        let tamper: (Int, [UInt8]) -> [UInt8] = { epoch, b in epoch == 0 ? Attack.replace(b, "250-PIPELINING", "250-X-INJECTED\r\n250-PIPELINING") : b }
        var compliant = Pair(client: ClientConfiguration(), messages: [message()])
        compliant.toClient = tamper
        compliant.run()
        XCTAssertFalse(compliant.client.currentCapabilities.contains("X-INJECTED"))
        var flawed = Pair(client: .with { $0.flaws = [.keepsPreTLSCapabilities] }, messages: [message()])
        flawed.toClient = tamper
        flawed.run()
        XCTAssertTrue(flawed.client.currentCapabilities.contains("X-INJECTED"))
        XCTAssertTrue(flawed.clientNotes.contains(.keptPreTLSCapabilities))
    }

    func testHandshakeFailureAndUnverifiedCertificates() {
        var failing = Pair(client: .with { $0.policy = .opportunistic }, messages: [message()])
        failing.handshake = TLSReport(established: false, peerVerified: false, failure: .malformedRecord, rfc8460ResultType: .validationFailure)
        let f = run(failing)
        XCTAssertEqual(f.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertEqual(f.fromClient.filter { $0.epoch == 1 }.count, 0)

        let expired = TLSReport(established: true, peerVerified: false, version: "TLSv1.3", failure: .certificateExpired, rfc8460ResultType: .certificateExpired)
        var required = Pair(client: .with { $0.policy = .required }, messages: [message()])
        required.handshake = expired
        let r = run(required)
        XCTAssertEqual(r.outcomes.first?.status, .temporaryFailure)
        XCTAssertEqual(r.outcomes.first?.tlsResultType, .certificateExpired)
        XCTAssertEqual(String(decoding: r.fromClient.filter { $0.epoch == 1 }.flatMap(\.bytes), as: UTF8.self), "QUIT\r\n")

        var opportunistic = Pair(client: ClientConfiguration(), messages: [message()])
        opportunistic.handshake = expired
        XCTAssertEqual(run(opportunistic).outcomes.map(\.status), [.delivered])

        var ignoring = Pair(client: .with { $0.policy = .required; $0.flaws = [.ignoresCertificateErrors] }, messages: [message()])
        ignoring.handshake = expired
        XCTAssertEqual(run(ignoring).outcomes.map(\.status), [.delivered])
    }

    func testEHLORefusedHELOFallbackOnlyWhenAllowed() {
        let refuse: (Int, [UInt8]) -> [UInt8] = { _, b in
            String(decoding: b, as: UTF8.self).hasPrefix("250-mx.example.test") ? Array("500 5.5.2 what?\r\n".utf8) : b
        }
        var opportunistic = Pair(client: ClientConfiguration(), messages: [message()])
        opportunistic.toClient = refuse
        let o = run(opportunistic)
        XCTAssertEqual(o.outcomes.map(\.status), [.delivered])
        XCTAssertTrue(o.clientPlaintext.contains("HELO client.example.test"))
        var required = Pair(client: .with { $0.policy = .required }, messages: [message()])
        required.toClient = refuse
        let r = run(required)
        XCTAssertEqual(r.outcomes.first?.tlsResultType, .starttlsNotSupported)
        XCTAssertFalse(r.clientPlaintext.contains("HELO"), "docs/catalog.md B3: no HELO fallback under a required policy")
    }

    func testMalformedRepliesAreFatal() {
        // docs/catalog.md F1: a multiline reply with mixed codes.
        var p = Pair(client: ClientConfiguration(), messages: [message()])
        p.toClient = { _, b in Attack.replace(b, "250-PIPELINING", "521 PIPELINING") }
        let r = run(p)
        XCTAssertEqual(r.outcomes.map(\.status), [.temporaryFailure])
        XCTAssertTrue(r.outcomes[0].reason.contains("inconsistent-multiline-reply"), r.outcomes[0].reason)
        XCTAssertTrue(r.client.isClosed)
    }

    func testAuthBeforeTLSOnlyWithTheFlaw() {
        // docs/catalog.md H6.
        let server = ServerConfiguration.with { $0.credentials = ["alice": "secret"]; $0.flaws = [.offersAuthPlainBeforeTLS] }
        let compliant = run(Pair(client: .with { $0.credentials = credentials }, server: server, messages: [message()]))
        XCTAssertFalse(compliant.clientPlaintext.contains("AUTH"))
        XCTAssertEqual(compliant.maildrop.messages.first?.authenticatedAs, "alice")
        let flawed = run(Pair(client: .with { $0.credentials = credentials; $0.flaws = [.sendsAuthBeforeTLS] }, server: server, messages: [message()]))
        XCTAssertTrue(flawed.clientPlaintext.contains("AUTH PLAIN"))
    }

    func testAuthFailureIsPermanent() {
        let p = run(Pair(client: .with { $0.credentials = Credentials(username: "alice", password: "wrong") }, server: serverWithAuth, messages: [message()]))
        XCTAssertEqual(p.outcomes.map(\.status), [.permanentFailure])
        XCTAssertEqual(p.outcomes.first?.reply?.code.value, 535)
    }

    func testBareLFBodiesByPolicyAndFlaw() throws {
        let body = "x\n.\r\nMAIL FROM:<ceo@bank.example>\r\n"
        let compliant = run(Pair(client: ClientConfiguration(), messages: [message(body: body)]))
        XCTAssertEqual(compliant.maildrop.messages.first?.body, Array("x\r\n.\r\nMAIL FROM:<ceo@bank.example>\r\n".utf8))
        let flawed = run(Pair(client: .with { $0.flaws = [.emitsBareLF] }, messages: [message(body: body)]))
        // The compliant server refuses what the flawed client sent (550 5.6.0).
        XCTAssertEqual(flawed.outcomes.map(\.status), [.permanentFailure])
        XCTAssertEqual(flawed.maildrop.count, 0)
    }

    func testTimeoutsAndLostConnections() {
        var c = SMTPClientConnection(configuration: ClientConfiguration(), messages: [message()])
        XCTAssertEqual(c.start(), [.setTimer(.reply, after: 300_000_000_000)])
        let actions = c.timerFired(.reply)
        XCTAssertTrue(actions.contains(.close))
        XCTAssertEqual(c.outcomes.map(\.status), [.temporaryFailure])

        // Lost after the final dot: a retry may duplicate the message.
        var d = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.usePipelining = false }, messages: [message()])
        _ = d.start()
        for reply in ["220 mx\r\n", "250 mx\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"] { _ = d.receive(Array(reply.utf8)) }
        _ = d.peerClosed()
        XCTAssertEqual(d.outcomes.first?.possibleDuplicate, true)
        XCTAssertEqual(d.outcomes.first?.status, .temporaryFailure)

        // Lost, or timed out, once BDAT LAST went out pipelined behind MAIL and RCPT: the same
        // (RFC 3030 §2; Corpus/StartTLSBoundary/crash-bdat-last-lost-before-its-reply-counted-deferred).
        for lost in [true, false] {
            var e = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.useChunking = true }, messages: [message()])
            _ = e.start()
            _ = e.receive(Array("220 mx\r\n".utf8))
            let sent = e.receive(Array("250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n".utf8))
            XCTAssertTrue(sent.contains { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self).contains("LAST") } else { false } }, "\(sent)")
            _ = lost ? e.peerClosed() : e.timerFired(.reply)
            XCTAssertEqual(e.outcomes.first?.possibleDuplicate, true, lost ? "lost" : "timed out")
        }
    }

    func testOnlyA250ToRSETStartsTheNextTransaction() {
        // RFC 5321 §4.1.1.5, §4.3.2 (issue 15): message 1's only recipient is refused after MAIL
        // was accepted, so the client resets; a reply other than 250 must not start message 2.
        for (answer, next) in [("250 2.0.0 ok", "MAIL"), ("221 bye", "QUIT"), ("354 go on", "QUIT"), ("500 what", "QUIT"), ("250-a\r\n250 b", "MAIL")] {
            var c = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.usePipelining = false },
                                         messages: [message("m1"), message("m2")])
            _ = c.start()
            for reply in ["220 mx\r\n", "250 mx\r\n", "250 ok\r\n", "550 no such user\r\n"] { _ = c.receive(Array(reply.utf8)) }
            let sent = c.receive(Array((answer + "\r\n").utf8)).compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }
            XCTAssertEqual(sent.first.map { String($0.prefix(4)) }, next, "after \(answer.debugDescription): \(sent)")
            if next == "QUIT" {
                XCTAssertEqual(c.outcomes.first { $0.messageID == "m2" }?.status, .temporaryFailure, answer)
            }
        }
    }

    func testAnEHLOLineOverTheRFCLimitIsReadUpToTheTolerantOne() {
        // RFC 5321 §4.5.3.1: a 580-octet EHLO line (real test servers send them) is read, not fatal;
        // one past SMTPLimits.tolerantReplyLine still is.
        for (length, delivered) in [(580, true), (SMTPLimits.tolerantReplyLine, true), (SMTPLimits.tolerantReplyLine + 1, false)] {
            var c = SMTPClientConnection(configuration: .with { $0.policy = .plaintext; $0.usePipelining = false }, messages: [message("m1")])
            _ = c.start()
            let long = "250-X-" + String(repeating: "A", count: length - 8)
            var sent: [String] = []
            for reply in ["220 mx\r\n", long + "\r\n250 SIZE 1000000\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n"] {
                sent += c.receive(Array(reply.utf8)).compactMap { if case .send(let b) = $0 { String(decoding: b.prefix(4), as: UTF8.self) } else { nil } }
            }
            XCTAssertEqual(c.outcomes.first?.status == .delivered, delivered, "a \(length)-octet line: \(sent)")
            if delivered { XCTAssertEqual(Array(sent.prefix(2)), ["EHLO", "MAIL"]) }
        }
    }

    func testGreetingRefusedAndAsync421() {
        var c = SMTPClientConnection(configuration: ClientConfiguration(), messages: [message()])
        _ = c.start()
        let a = c.receive(Array("554 no service\r\n".utf8))
        XCTAssertTrue(a.contains(.send(Array("QUIT\r\n".utf8))))
        XCTAssertEqual(c.outcomes.first?.status, .temporaryFailure)
        var d = SMTPClientConnection(configuration: ClientConfiguration(), messages: [message()])
        _ = d.start()
        _ = d.receive(Array("220 mx\r\n".utf8))
        let b = d.receive(Array("421 4.3.2 shutting down\r\n".utf8))
        XCTAssertTrue(b.contains(.close))
        XCTAssertEqual(d.outcomes.first?.reply?.code.value, 421)
    }

    func testMTASTSMatching() {
        let policy = MTASTSPolicy(mode: .enforce, mxPatterns: ["*.example.net", "mx.example.test"])
        XCTAssertTrue(policy.matches("mx1.example.net"))
        XCTAssertTrue(policy.matches("MX.example.test"))
        XCTAssertFalse(policy.matches("a.b.example.net"))
        XCTAssertFalse(policy.matches("example.net"))
        var c = SMTPClientConnection(configuration: .with { $0.policy = .mtaSTS(MTASTSPolicy(mode: .enforce, mxPatterns: ["*.example.net"])) }, messages: [message()])
        XCTAssertTrue(c.start().contains(.close))
        XCTAssertEqual(c.outcomes.first?.tlsResultType, .validationFailure)
        XCTAssertEqual(run(Pair(client: .with { $0.policy = .mtaSTS(MTASTSPolicy(mode: .enforce, mxPatterns: ["mx.example.test"])) }, messages: [message()])).outcomes.map(\.status), [.delivered])
    }

    func testQueueRetriesTemporaryFailures() {
        var queue = SMTPClient(configuration: .with { $0.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 2) }, messages: [message()])
        var first = queue.nextAttempt()!
        _ = first.start()
        _ = first.receive(Array("421 busy\r\n".utf8))
        XCTAssertEqual(queue.attemptFinished(first), .retry(after: 1_800_000_000_000))
        XCTAssertEqual(queue.pending.count, 1)
        var second = queue.nextAttempt()!
        XCTAssertEqual(second.attempt, 2)
        _ = second.start()
        _ = second.receive(Array("554 go away\r\n".utf8))
        XCTAssertEqual(queue.attemptFinished(second), .done)
        XCTAssertNil(queue.nextAttempt(), "attempts ran out")
        XCTAssertEqual(queue.results["m1"]?.attempt, 2)
    }

    func testHostileRepliesNeverCrash() {
        var rng = SplitMix64(seed: 5)
        let pieces = ["220 mx\r\n", "250-mx\r\n", "250 STARTTLS\r\n", "250 ok\r\n", "354 go\r\n", "334 \r\n", "421 bye\r\n",
                      "550 no\r\n", "999 x\r\n", "\r\n", "\n", "2", "250-PIPELINING\r\n", String(repeating: "9", count: 600)]
        for round in 0..<200 {
            var c = SMTPClientConnection(configuration: .with {
                $0.credentials = round % 3 == 0 ? Credentials(username: "a", password: "b") : nil
                $0.flaws = round % 2 == 0 ? [] : Set(ClientFlaw.allCases)
            }, messages: [message("a"), message("b")])
            _ = c.start()
            for _ in 0..<30 {
                if c.isClosed { break }
                let actions = c.receive(Array(pieces[Int.random(in: 0..<pieces.count, using: &rng)].utf8))
                if actions.contains(where: { if case .startTLS = $0 { true } else { false } }) {
                    _ = c.tlsHandshakeFinished(TLSHandshakeResult(established: Bool.random(using: &rng), peerVerified: Bool.random(using: &rng)))
                }
            }
            _ = c.peerClosed()
            XCTAssertEqual(c.outcomes.count, 2, "every message gets an outcome")
        }
    }
}
