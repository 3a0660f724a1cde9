import EndpointHosting
import SMTPCore

/// `smtpsim probe`'s checks of the TLS session after the handshake (docs/catalog.md I), and the
/// opening every TLS check shares.
extension Probe {
    // MARK: - The TLS session after the handshake (docs/catalog.md I)

    /// A check that cannot go on, with its verdict (n/a without STARTTLS, inconclusive when TLS
    /// did not come up): thrown by the steps checks share, caught where each check runs.
    struct Stopped: Error {
        let verdict: Verdict
        let detail: String
    }

    /// Greeting, EHLO, STARTTLS, the handshake and EHLO again: the EHLO reply inside TLS.
    func openTLS(_ c: ScriptedConnection) async throws -> SMTPReply {
        if implicitTLS {
            guard let ehlo = try await hello(c) else { throw Stopped(verdict: .inconclusive, detail: "no greeting or EHLO reply inside TLS") }
            return ehlo
        }
        guard let caps = try await open(c) else { throw Stopped(verdict: .inconclusive, detail: "no greeting or EHLO reply") }
        guard caps.startTLS else { throw Stopped(verdict: .notApplicable, detail: "STARTTLS not offered") }
        try await c.send("STARTTLS\r\n")
        guard try await c.reply()?.n == 220, try await c.handshake() else { throw Stopped(verdict: .inconclusive, detail: "could not start TLS") }
        try await c.send("EHLO \(heloName)\r\n")
        guard let ehlo = try await c.reply(), ehlo.n == 250 else { throw Stopped(verdict: .inconclusive, detail: "no EHLO reply inside TLS") }
        return ehlo
    }

    /// MAIL and RCPT inside TLS; nil when both were accepted, else why not.
    private func envelope(_ c: ScriptedConnection) async throws -> String? {
        for line in ["MAIL FROM:<\(mailFrom)>\r\n", "RCPT TO:<\(rcptTo)>\r\n"] {
            try await c.send(line)
            let r = try await c.reply()
            guard r?.n == 250 else { return "\(line.trimmed) answered \(Self.show(r)) (set --rcpt to an accepted address)" }
        }
        return nil
    }

    /// After this side ended TLS and sent a cleartext command: pass when the server answered
    /// nothing in the clear (it closed, or sent only TLS records), fail when it did.
    private func judgeAfterEnd(_ c: ScriptedConnection, what: String) async -> (Verdict, String) {
        let (records, cleartext, closed) = await c.afterTLSEnd(window: quietWindow + timeout / 2)
        var parser = ReplyParser()
        parser.append(cleartext)
        if let reply = try? parser.next() {
            return (.fail, "after \(what), the server read on in the clear and answered: \(Self.show(reply)) (RFC 8446 §6.1, RFC 3207 §4.2: nothing after the end of TLS is read; the path CVE-2026-45185 went through)")
        }
        if !cleartext.isEmpty {
            return (.fail, "after \(what), the server wrote \(cleartext.count) octets in the clear: \(BytePreview.text(cleartext, limit: 60))")
        }
        let ended = closed ? "closed the connection" : "left the connection open without a reply"
        return (.pass, "after \(what), the server \(ended)\(records > 0 ? " (\(records) TLS record(s): its close_notify or alert)" : "")")
    }

    /// I1: close_notify in the middle of the message data, then cleartext that would end the
    /// data and ask for a reply; the server must not read it.
    func closeNotifyMidData(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        _ = try await openTLS(c)
        if let why = try await envelope(c) { return (.inconclusive, why) }
        try await c.send("DATA\r\n")
        guard try await c.reply()?.n == 354 else { return (.inconclusive, "DATA was not answered 354") }
        try await c.send("Subject: smtpsim probe\r\n\r\nthe first half of the body")
        guard try await c.perform(.closeNotify) else { return (.inconclusive, "could not send close_notify") }
        // A server that already closed cannot read it: the write may fail, the verdict stands on what came.
        try? await c.sendRaw(Array("\r\n.\r\nNOOP\r\n".utf8))
        return await judgeAfterEnd(c, what: "close_notify mid-DATA and a cleartext end of data")
    }

    /// I2: the same inside a BDAT chunk, where CHUNKING is offered.
    func closeNotifyMidBDAT(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        let ehlo = try await openTLS(c)
        guard (try? EHLOCapabilities(reply: ehlo))?.chunking == true else { return (.notApplicable, "CHUNKING not offered inside TLS") }
        if let why = try await envelope(c) { return (.inconclusive, why) }
        let body = Array("Subject: smtpsim probe\r\n\r\nthe chunk's first half, the rest follows in the clear\r\n".utf8)
        let half = body.count / 2
        try await c.send(Array("BDAT \(body.count) LAST\r\n".utf8) + body.prefix(half))
        guard try await c.perform(.closeNotify) else { return (.inconclusive, "could not send close_notify") }
        // A server that already closed cannot read it: the write may fail, the verdict stands on what came.
        try? await c.sendRaw(Array(body.dropFirst(half)) + Array("NOOP\r\n".utf8))
        return await judgeAfterEnd(c, what: "close_notify mid-BDAT and the chunk's rest in the clear")
    }

    /// I3: cleartext octets on the wire while TLS is up, without close_notify: a record-layer
    /// error for the server, never a command.
    /// A server that answers it (inside TLS as a command, or in the clear after its own alert, as
    /// one that ignores its record-layer error does) fails; what came back is read off the wire.
    func cleartextInsideTLS(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        _ = try await openTLS(c)
        // A server that already closed cannot read it: the write may fail, the verdict stands on what came.
        try? await c.sendRaw(Array("NOOP\r\n".utf8), epoch: 3)
        let (raw, closed) = await c.watchRaw(window: quietWindow + timeout / 2)
        let (records, cleartext) = ScriptedConnection.split(raw)
        if let r = c.decrypt(Array(raw.prefix(raw.count - cleartext.count))) {
            return (.fail, "cleartext inside TLS was answered as a command: \(Self.show(r))")
        }
        var parser = ReplyParser()
        parser.append(cleartext)
        if let reply = try? parser.next() {
            return (.fail, "after its record-layer error\(records > 0 ? " (\(records) TLS record(s): its alert)" : ""), the server answered the cleartext in the clear: \(Self.show(reply)) (RFC 8446 §6.2, §5.1)")
        }
        if !cleartext.isEmpty {
            return (.fail, "after its record-layer error the server wrote \(cleartext.count) octets in the clear: \(BytePreview.text(cleartext, limit: 60))")
        }
        return (.pass, closed ? "the server ended the connection (record-layer error)" : "no reply to the cleartext")
    }

    /// I4: a TLS 1.3 KeyUpdate (update requested) after MAIL: the transaction carries on.
    func keyUpdateMidTransaction(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        _ = try await openTLS(c)
        guard c.tlsVersion == "TLSv1.3" else { return (.notApplicable, "TLS 1.2 negotiated: KeyUpdate is TLS 1.3's") }
        try await c.send("MAIL FROM:<\(mailFrom)>\r\n")
        guard try await c.reply()?.n == 250 else { return (.inconclusive, "MAIL refused") }
        guard try await c.perform(.keyUpdate(requestingPeerUpdate: true)) else { return (.inconclusive, "could not send KeyUpdate") }
        try await c.send("RSET\r\n")
        let rset = try await c.reply()
        try await c.send("NOOP\r\n")
        let noop = try await c.reply()
        guard rset?.n == 250, noop?.n == 250 else {
            return (.fail, "after a KeyUpdate the session broke: RSET \(Self.show(rset)), NOOP \(Self.show(noop))")
        }
        return (.pass, "after a KeyUpdate (update requested) RSET and NOOP answered 250")
    }

    /// I5: a fatal alert (bad_record_mac) after MAIL, then a cleartext command.
    func alertThenCleartext(_ c: ScriptedConnection) async throws -> (Verdict, String) {
        _ = try await openTLS(c)
        try await c.send("MAIL FROM:<\(mailFrom)>\r\n")
        guard try await c.reply()?.n == 250 else { return (.inconclusive, "MAIL refused") }
        guard try await c.perform(.alert(.badRecordMAC)) else { return (.inconclusive, "could not send the alert") }
        // A server that already closed cannot read it: the write may fail, the verdict stands on what came.
        try? await c.sendRaw(Array("NOOP\r\n".utf8))
        let judged = await judgeAfterEnd(c, what: "a fatal bad_record_mac alert and a cleartext NOOP")
        guard judged.0 == .fail else { return judged }
        // Some servers answer any TLS read error with a farewell in the clear (Exim: `421 … lost
        // input connection`), whether anything follows the alert or not. A control run with the
        // alert alone, on its own connection, tells such a farewell from an answer to the NOOP.
        let control = try await ScriptedConnection.with(target, timeout: timeout) { [self] k in
            _ = try await openTLS(k)
            try await k.send("MAIL FROM:<\(mailFrom)>\r\n")
            guard try await k.reply()?.n == 250, try await k.perform(.alert(.badRecordMAC)) else { return ([UInt8]?.none, k.exchanges) }
            return (await k.afterTLSEnd(window: quietWindow + timeout / 2).cleartext, k.exchanges)
        }
        c.append(control: control.1)
        guard let alone = control.0 else { return judged }
        return Self.farewell(after: await c.afterTLSEnd(window: 0).cleartext, alone: alone) ?? judged
    }

    /// What a server wrote in the clear after a TLS error followed by a cleartext command, against
    /// what it wrote after the error alone (a control connection): the same reply both times is a
    /// farewell (Exim's `421 … lost input connection`), not an answer to the command. The
    /// farewell's own verdict, or nil when the command was answered.
    static func farewell(after withCommand: [UInt8], alone: [UInt8]) -> (Verdict, String)? {
        var a = ReplyParser(), b = ReplyParser()
        a.append(withCommand)
        b.append(alone)
        guard let answer = try? a.next(), let farewell = try? b.next(), answer.code == farewell.code, (try? a.next()) == nil else { return nil }
        return (.warn, "after a fatal alert the server wrote a farewell in the clear, with or without the cleartext NOOP (a control connection sent the alert alone): \(Self.show(farewell)); it did not answer the NOOP, but wrote plaintext after the TLS session ended (RFC 8446 §6.2: close at once)")
    }
}
