import EndpointHosting
import Foundation
import SMTPClient
import SMTPCore
import SMTPServer
import TestSupport
import XCTest

@testable import SMTPNet

/// Real sessions are judged like simulated ones (issue 28): `serve` judges the client that
/// connected, `send` the server it reached, by the rules one end can see (`SessionJudge`). The
/// peers here are real: Python's smtplib against `serve`, and `serve` against `send`.
final class RealSessionJudgmentTests: XCTestCase {
    /// Runs a Python smtplib script with the server's port as `port`; it must exit 0 within
    /// 20 s (it is stopped by its process id otherwise).
    static func python(_ script: String, port: Int) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import smtplib, ssl, sys\nport = \(port)\n" + script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        let done = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { done.continuation.yield($0.terminationStatus) }
        try process.run()
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            kill(pid, SIGKILL)
        }
        var statuses = done.stream.makeAsyncIterator()
        let status = await statuses.next()
        watchdog.cancel()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(status, 0, "python3: \(text)")
        return text
    }

    /// The record directory of the last `serve`.
    var recordDirectory = ""

    /// Serves one connection to `script` with a record directory and a maildir; returns the
    /// record of C1 and the maildir envelopes.
    func serve(_ server: NetServer, _ script: String) async throws -> (SessionRecord.Document, [MaildirWriter.Envelope]) {
        var server = server
        let record = Loopback.temporaryDirectory(), maildir = Loopback.temporaryDirectory()
        recordDirectory = record
        server.recordDirectory = URL(fileURLWithPath: record, isDirectory: true)
        server.maildir = try MaildirWriter(directory: maildir)
        server.maximumConnections = 1
        let ports = AsyncStream<Int>.makeStream()
        let task = Task { [server] in
            try await server.run(ready: { ports.continuation.yield($0) }, log: { _, _ in })
        }
        var next = ports.stream.makeAsyncIterator()
        guard let port = await next.next() else { throw NetError.setup("the server did not start") }
        _ = try await Self.python(script, port: port)
        // The server returns once its one connection is served and recorded.
        try await task.value
        let json = try Data(contentsOf: URL(fileURLWithPath: record + "/C1.json"))
        let document = try JSONDecoder().decode(SessionRecord.Document.self, from: json)
        XCTAssertTrue(FileManager.default.fileExists(atPath: record + "/C1.log"))
        let envelopes = try FileManager.default.contentsOfDirectory(atPath: maildir).filter { $0.hasSuffix(".json") }.sorted().map {
            try JSONDecoder().decode(MaildirWriter.Envelope.self, from: Data(contentsOf: URL(fileURLWithPath: maildir + "/" + $0)))
        }
        return (document, envelopes)
    }

    static let send = """
        s.sendmail('alice@example.test', ['bob@example.net'], 'Subject: x\\r\\n\\r\\nhi\\r\\n')
        s.quit()
        """

    /// A compliant client: STARTTLS, then AUTH PLAIN and the message inside TLS. No finding.
    func testACompliantClientOverSTARTTLSIsNotJudged() async throws {
        let (record, envelopes) = try await serve(Loopback.server(flaws: [.offersAuthPlainBeforeTLS], credentials: ["u": "p"]), """
            s = smtplib.SMTP('127.0.0.1', port, timeout=5)
            s.starttls(context=ssl._create_unverified_context())
            s.login('u', 'p')
            """ + "\n" + Self.send)
        XCTAssertEqual(record.findings, [])
        XCTAssertEqual(envelopes.map(\.findings), [[]])
        XCTAssertEqual(envelopes.map(\.overTLS), [true])
        // The record's pcap and key log: tshark reads STARTTLS in the clear and, decrypted,
        // AUTH and MAIL inside TLS (as for a simulated run's --pcap and --keylog).
        guard let verbs = try Tshark.smtpCommands(pcap: recordDirectory + "/C1.pcap", keylog: recordDirectory + "/C1.keylog") else {
            throw XCTSkip("tshark is not installed (.ci/run installs it)")
        }
        let commands = verbs.map { $0.uppercased() }
        XCTAssertTrue(commands.contains("STAR"), "STARTTLS in the clear: \(commands)")
        XCTAssertTrue(commands.contains("AUTH"), "AUTH seen only after decryption: \(commands)")
        XCTAssertTrue(commands.contains { $0.hasPrefix("MAIL") }, "\(commands)")
    }

    /// A client that sends AUTH PLAIN in the clear to a server that offers it there: the
    /// client is at fault (RFC 4954 §4), in the record and in the message's envelope, and the
    /// finding's event is the client's AUTH line as the server read it.
    func testAClientSendingAUTHPLAINInTheClearIsAFinding() async throws {
        let (record, envelopes) = try await serve(Loopback.server(flaws: [.offersAuthPlainBeforeTLS], credentials: ["u": "p"]), """
            s = smtplib.SMTP('127.0.0.1', port, timeout=5)
            s.login('u', 'p')
            """ + "\n" + Self.send)
        XCTAssertEqual(record.findings.map { "\($0.oracle) \($0.side ?? "")" }, ["plaintext-exposure client"])
        XCTAssertTrue(record.findings[0].explanation.contains("credentials in plaintext"), record.findings[0].explanation)
        let evidence = record.events[record.findings[0].event]
        XCTAssertEqual(evidence.event, "received")
        XCTAssertEqual(evidence.layer, "plaintext")
        XCTAssertTrue(evidence.text.hasPrefix("AUTH PLAIN "), evidence.text)
        XCTAssertEqual(envelopes.count, 1)
        XCTAssertEqual(envelopes[0].findings.count, 1)
        XCTAssertTrue(envelopes[0].findings[0].hasPrefix("plaintext-exposure (client): the client sent credentials in plaintext"), "\(envelopes[0].findings)")
    }

    /// A server rule answers STARTTLS with 220 and never starts TLS; a client that takes no
    /// notice and sends its envelope in the clear on the same connection is at fault (RFC 3207
    /// §4.1), once. A client that leaves with QUIT after the 220 is not.
    func testAClientGoingOnInTheClearAfterA220ToSTARTTLSIsAFinding() async throws {
        var server = Loopback.server()
        server.configuration.rules = [ServerRule(on: .verb("STARTTLS"), reply: RuleReply(lines: ["220 2.0.0 Ready to start TLS"]), act: false)]
        let (record, _) = try await serve(server, """
            s = smtplib.SMTP('127.0.0.1', port, timeout=5)
            s.ehlo('c.test')
            assert s.docmd('STARTTLS')[0] == 220
            """ + "\n" + Self.send)
        XCTAssertEqual(record.findings.map(\.explanation), [
            "the client sent mail FROM:<alice@example.test> size=18 in plaintext after the server's 220 to its STARTTLS, on the same connection, instead of ending it"
        ])
        XCTAssertEqual(record.findings.map(\.reference), ["RFC 3207 §4.1; docs/catalog.md B4"])
        let (leaving, _) = try await serve(server, """
            s = smtplib.SMTP('127.0.0.1', port, timeout=5)
            s.ehlo('c.test')
            assert s.docmd('STARTTLS')[0] == 220
            s.quit()
            """)
        XCTAssertEqual(leaving.findings, [])
    }

    /// `send` judges the server it reached: a plaintext password mechanism offered before TLS
    /// is the server's finding (RFC 4954 §4), and a compliant server has none.
    func testSendJudgesTheServer() async throws {
        for (flaws, expected) in [([ServerFlaw.offersAuthPlainBeforeTLS], ["plaintext-exposure (server)"]), ([], [])] {
            var server = Loopback.server(flaws: Set(flaws))
            server.maximumConnections = 1
            let (report, _) = try await Loopback.with(server) { port in
                try await Loopback.client(port: port, policy: .opportunistic, trust: .none).deliver([Loopback.message()]) { _ in }
            }
            XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
            XCTAssertEqual(report.findings.map(\.label), expected)
        }
    }
    /// `run --against` judges the server: a command injected behind STARTTLS in the same
    /// segment and answered inside TLS before the client wrote anything there is the server's
    /// tls-boundary finding (CVE-2011-0411), on the exchange that shows it; the compliant
    /// server discards it and has none.
    func testAScriptOnASocketJudgesTheServersTLSBoundary() async throws {
        let steps: [ScriptStep] = [.expect("220"), .sendLine("EHLO c.test"), .expect("250"), .send("STARTTLS\r\nNOOP\r\n"), .expect("220"), .startTLS,
                                   .expectClose]
        for (flaws, expected) in [([ServerFlaw.keepsPlaintextAcrossStartTLS], ["tls-boundary (server)"]), ([], [])] {
            let (run, _) = try await Loopback.with(Loopback.server(flaws: Set(flaws))) { port in
                try await SocketScript.run(steps, against: HostPort(host: "127.0.0.1", port: port), timeout: 1)
            }
            XCTAssertEqual(run.findings.map(\.label), expected, "\(run.findings)")
            if let f = run.findings.first {
                let evidence = run.exchanges[f.eventIndex]
                XCTAssertEqual(evidence.direction, .received)
                XCTAssertEqual(evidence.layer, "tls")
                XCTAssertTrue(evidence.text.hasPrefix("250"), evidence.text)
            }
        }
    }

    /// `serve` judges the client's side of the boundary: a second command inside TLS that
    /// arrives before the server wrote anything there was sent before any reply could be read
    /// (here EHLO and MAIL in one write).
    func testAClientSendingTwoCommandsInsideTLSBeforeAnyReplyIsAFinding() async throws {
        let (record, _) = try await serve(Loopback.server(), """
            s = smtplib.SMTP('127.0.0.1', port, timeout=5)
            s.starttls(context=ssl._create_unverified_context())
            s.sock.sendall(b'EHLO c.test\\r\\nMAIL FROM:<alice@example.test>\\r\\n')
            assert s.getreply()[0] == 250 and s.getreply()[0] == 250
            s.quit()
            """)
        XCTAssertEqual(record.findings.map { "\($0.oracle) \($0.side ?? "")" }, ["tls-boundary client"], "\(record.findings)")
    }
    /// `send --record DIR`: the attempt's events and findings (`A1.json`), dialogue, pcap and key
    /// log, as `serve --record` writes them; tshark decrypts the session.
    func testSendRecordsItsConnection() async throws {
        var server = Loopback.server(flaws: [.offersAuthPlainBeforeTLS], credentials: ["alice": "secret"])
        server.maximumConnections = 1
        let dir = Loopback.temporaryDirectory()
        let (report, _) = try await Loopback.with(server) { port in
            var client = Loopback.client(port: port, policy: .required, trust: .anchors(Loopback.factory.trustAnchors),
                                         credentials: Credentials(username: "alice", password: "secret"))
            client.recordDirectory = URL(fileURLWithPath: dir, isDirectory: true)
            return try await client.deliver([Loopback.message()]) { _ in }
        }
        XCTAssertEqual(report.outcomes.map(\.status), [.delivered])
        let document = try JSONDecoder().decode(SessionRecord.Document.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/A1.json")))
        XCTAssertEqual(document.findings.map { "\($0.oracle) \($0.side ?? "")" }, ["plaintext-exposure server"])
        XCTAssertEqual(document.events[document.findings[0].event].event, "received", "the EHLO reply that offers AUTH PLAIN")
        XCTAssertTrue(try String(contentsOfFile: dir + "/A1.log", encoding: .utf8).contains("C[tls]: MAIL FROM:<alice@example.test>"))
        guard let verbs = try Tshark.smtpCommands(pcap: dir + "/A1.pcap", keylog: dir + "/A1.keylog") else {
            throw XCTSkip("tshark is not installed (.ci/run installs it)")
        }
        XCTAssertTrue(verbs.contains("AUTH") && verbs.contains { $0.hasPrefix("MAIL") }, "\(verbs)")
    }
}
