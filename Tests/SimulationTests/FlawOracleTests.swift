import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
import XCTest

/// Every flaw profile produces its finding in the matching attack; the compliant pair in the same
/// attack produces none (issue 5, "Oracles and outcomes").
final class FlawOracleTests: XCTestCase {
    struct Case {
        var name: String
        var expected: Oracle
        var attack: (inout SimulationConfiguration) -> Void
        var flaw: (inout SimulationConfiguration) -> Void
    }

    static let smuggledBody = "Subject: hi\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nspoofed\r\n"

    nonisolated(unsafe) static let cases: [Case] = [
        Case(name: "server keeps plaintext across STARTTLS (CVE-2011-0411)", expected: .tlsBoundary,
             attack: { $0.attacker = [.injectToServer(bytes: "RSET\r\n", sameSegment: true)] },
             flaw: { $0.server.configuration.flaws.insert(.keepsPlaintextAcrossStartTLS) }),
        Case(name: "server keeps AUTH across STARTTLS (session fixation)", expected: .stateReset,
             attack: {
                 $0.server.configuration.credentials = ["mallory": "pw"]
                 $0.server.configuration.flaws.insert(.offersAuthPlainBeforeTLS)
                 $0.attacker = [.injectAuth(username: "mallory", password: "pw")]
             },
             flaw: { $0.server.configuration.flaws.insert(.keepsAuthAcrossStartTLS) }),
        Case(name: "server advertises STARTTLS after TLS", expected: .stateReset,
             attack: { _ in },
             flaw: { $0.server.configuration.flaws.insert(.advertisesStartTLSAfterTLS) }),
        Case(name: "server offers AUTH PLAIN before TLS", expected: .plaintextExposure,
             attack: { $0.server.configuration.credentials = ["alice": "secret"] },
             flaw: { $0.server.configuration.flaws.insert(.offersAuthPlainBeforeTLS) }),
        Case(name: "client keeps buffered replies across STARTTLS (response injection)", expected: .tlsBoundary,
             attack: { $0.attacker = [.injectToClient(bytes: "250-evil.example\r\n250 PIPELINING\r\n")] },
             flaw: { $0.clients[0].configuration.flaws.insert(.keepsBufferedRepliesAcrossStartTLS) }),
        Case(name: "client keeps pre-TLS capabilities", expected: .stateReset,
             attack: {
                 $0.server.configuration.credentials = ["alice": "secret"]
                 $0.server.configuration.authMechanisms = ["PLAIN"]
                 $0.clients[0].configuration.credentials = Credentials(username: "alice", password: "secret", mechanisms: ["LOGIN", "PLAIN"])
                 $0.attacker = [.tamperCapabilities(add: ["AUTH LOGIN"], remove: [])]
             },
             flaw: { $0.clients[0].configuration.flaws.insert(.keepsPreTLSCapabilities) }),
        Case(name: "client falls back to plaintext under required TLS", expected: .plaintextExposure,
             attack: {
                 $0.clients[0].configuration.policy = .required
                 $0.attacker = [.stripStartTLS(.overwrite)]
             },
             flaw: { $0.clients[0].configuration.flaws.insert(.fallsBackToPlaintext) }),
        Case(name: "client sends AUTH before TLS", expected: .plaintextExposure,
             attack: {
                 $0.server.configuration.credentials = ["alice": "secret"]
                 $0.clients[0].configuration.credentials = Credentials(username: "alice", password: "secret")
                 $0.attacker = [.tamperCapabilities(add: ["AUTH PLAIN"], remove: [])]
             },
             flaw: { $0.clients[0].configuration.flaws.insert(.sendsAuthBeforeTLS) }),
        Case(name: "client ignores certificate errors", expected: .plaintextExposure,
             attack: {
                 $0.clients[0].configuration.policy = .required
                 $0.server.certificate = .expired
             },
             flaw: { $0.clients[0].configuration.flaws.insert(.ignoresCertificateErrors) }),
        Case(name: "client emits bare LF (outbound smuggling)", expected: .transactionCount,
             attack: { $0.clients[0].messages = [message(body: smuggledBody)] },
             flaw: { $0.clients[0].configuration.flaws.insert(.emitsBareLF) }),
    ]

    func testEachFlawIsCaughtAndTheCompliantPairIsNot() throws {
        for c in Self.cases {
            var compliantConfig = scenario { $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 1) }
            c.attack(&compliantConfig)
            let compliant = try simulate(compliantConfig)
            // The attack's setup may itself need a flaw (session fixation needs AUTH before TLS),
            // so the compliant side is judged on the oracle under test; `testCompliantPair…`
            // below demands no finding at all.
            XCTAssertFalse(compliant.oracles.contains(c.expected), "\(c.name): compliant\n\(compliant.trace.text)")
            var flawedConfig = compliantConfig
            c.flaw(&flawedConfig)
            let flawed = try simulate(flawedConfig)
            XCTAssertTrue(flawed.oracles.contains(c.expected), "\(c.name): expected \(c.expected), got \(flawed.oracles)\n\(flawed.trace.text)")
        }
    }

    func testServerAcceptingBareLFEndOfDataIsCaught() throws {
        // docs/catalog.md G2: a malicious sender (a script, not the honest client) smuggles a second
        // message behind "\n.\r\n"; the honest intent is the first message only.
        let honest = message(body: "Subject: hi\r\n\r\nhello\r\n")
        func run(_ flaws: Set<ServerFlaw>) throws -> RunResult {
            var config = scenario()
            config.server.configuration.flaws = flaws
            config.clients = []
            let steps: [ScriptStep] = [
                .expect("220"), .sendLine("EHLO sender.example"), .expect("250"),
                .send("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n"),
                .expect("250"), .expect("250"), .expect("354"),
                .send("Subject: hi\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nspoofed\r\n.\r\n"),
                .expect("2"), .sendLine("QUIT"), .expect("221"), .close,
            ]
            let sender = SingleConnectionProgram(endpoint: ScriptedEndpoint(role: .client, steps: steps), intendedMessages: [honest])
            return try World(configuration: config, clientPrograms: [sender]).run()
        }
        let compliant = try run([])
        XCTAssertEqual(compliant.accepted.count, 0, "refused: bare LF in the data")
        // (The sender's own bare LF is reported, docs/catalog.md G3; no smuggled message is.)
        XCTAssertFalse(compliant.findings.contains { $0.explanation.contains("no client sent") }, compliant.trace.text)
        let flawed = try run([.acceptsBareLFEndOfData])
        XCTAssertEqual(flawed.accepted.count, 2, flawed.trace.text)
        XCTAssertTrue(flawed.oracles.contains(.transactionCount), flawed.trace.text)
        XCTAssertTrue(flawed.findings.contains { $0.explanation.contains("ceo@bank.example") })
    }

    /// Message text that looks like commands is data, in DATA and in BDAT chunks (found by
    /// FuzzStartTLSBoundary: a chunk holding "AUTH CRAM-MD5" was read as the client's command).
    func testCommandLikeMessageTextIsNotACommand() throws {
        let body = "Subject: looks like commands\r\n\r\nAUTH CRAM-MD5\r\nMAIL FROM:<x@example.test>\r\nSTARTTLS\r\n"
        for chunking in [false, true] {
            let run = try simulate(scenario(seed: 3) {
                $0.tls = .cheap(.tls12)
                $0.clients[0].configuration.policy = .required
                $0.clients[0].configuration.useChunking = chunking
                $0.clients[0].configuration.credentials = Credentials(username: "alice", password: "secret")
                $0.server.configuration.credentials = ["alice": "secret"]
                $0.clients[0].messages = [message(body: body), message("m2", body: body)]
            })
            XCTAssertEqual(run.statuses, [.delivered, .delivered], "chunking \(chunking)")
            XCTAssertEqual(run.findings, [], "chunking \(chunking)")
        }
    }

    func testCompliantPairUnderEveryAttackHasNoFinding() throws {
        let attacks: [AttackAction] = [
            .stripStartTLS(.delete), .stripStartTLS(.overwrite), .replaceStartTLSReply("454 4.7.0 no\r\n"),
            .injectToServer(bytes: "RSET\r\n", sameSegment: true), .injectToClient(bytes: "250 ok\r\n"),
            .tamperCapabilities(add: ["AUTH PLAIN"], remove: ["PIPELINING"]), .injectAuth(username: "m", password: "p"),
        ]
        for policy in [TLSPolicy.opportunistic, .required] {
            for attack in attacks {
                let r = try simulate(scenario {
                    $0.clients[0].configuration.policy = policy
                    $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 2)
                    $0.attacker = [attack]
                })
                XCTAssertEqual(r.findings, [], "\(policy) \(attack)\n\(r.trace.text)")
                XCTAssertEqual(r.outcomes.count, 1)
            }
        }
    }
}
