import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
import XCTest

/// One test per attacker action, against compliant and flawed machines: the oracle fires exactly
/// when a flaw lets the attack through.
final class AttackerTests: XCTestCase {
    func testStripSTARTTLS() throws {
        for mode in [AttackAction.StripMode.overwrite, .delete] {
            let required = try simulate(scenario {
                $0.clients[0].configuration.policy = .required
                $0.attacker = [.stripStartTLS(mode)]
            })
            XCTAssertEqual(required.statuses, [.temporaryFailure], "\(mode)")
            XCTAssertEqual(required.outcomes.first?.tlsResultType, .starttlsNotSupported)
            XCTAssertEqual(required.findings, [], required.trace.text)
            XCTAssertTrue(required.has("strip-starttls"))

            let opportunistic = try simulate(scenario { $0.attacker = [.stripStartTLS(mode)] })
            XCTAssertEqual(opportunistic.statuses, [.delivered])
            XCTAssertEqual(opportunistic.accepted.first?.overTLS, false)
            XCTAssertEqual(opportunistic.findings, [])

            let flawed = try simulate(scenario {
                $0.clients[0].configuration.policy = .required
                $0.clients[0].configuration.flaws = [.fallsBackToPlaintext]
                $0.attacker = [.stripStartTLS(mode)]
            })
            XCTAssertEqual(flawed.oracles, [.plaintextExposure], flawed.trace.text)
        }
    }

    func testReplaceSTARTTLSReply() throws {
        let refused = try simulate(scenario {
            $0.clients[0].configuration.policy = .required
            $0.attacker = [.replaceStartTLSReply("454 4.7.0 TLS not available\r\n")]
        })
        XCTAssertEqual(refused.statuses, [.temporaryFailure])
        XCTAssertEqual(refused.findings, [])
        // B4: a bogus 220 then plaintext: the client's TLS fails and it never speaks plaintext on
        // that connection. By default every attempt tries TLS again (and the message waits);
        // with plaintext-retry-after-tls-failure the retry is a new, plaintext connection, as
        // Postfix does at `may` (RFC 7435 §4.1).
        let waits = try simulate(scenario { $0.attacker = [.replaceStartTLSReply("220 go ahead\r\n")] })
        XCTAssertEqual(waits.statuses, [.temporaryFailure], waits.trace.text)
        XCTAssertEqual(waits.connections, RetryPolicy().maximumAttempts)
        XCTAssertFalse(waits.trace.events.contains { if case .plaintext(.clientToServer, 0, let b) = $0.kind { b.starts(with: Array("MAIL".utf8)) } else { false } })
        let bogus = try simulate(scenario {
            $0.clients[0].configuration.plaintextRetryAfterTLSFailure = true
            $0.attacker = [.replaceStartTLSReply("220 go ahead\r\n")]
        })
        XCTAssertEqual(bogus.statuses, [.delivered], bogus.trace.text)
        XCTAssertEqual(bogus.connections, 2)
        XCTAssertEqual(bogus.findings, [], bogus.trace.text)
        XCTAssertTrue(bogus.trace.text.contains("client tls failed"), bogus.trace.text)
        let firstConnectionPlaintext = bogus.trace.events.filter {
            if $0.connection == 1, case .plaintext(.clientToServer, 0, _) = $0.kind { true } else { false }
        }
        XCTAssertEqual(firstConnectionPlaintext.count, 2, "EHLO and STARTTLS only")
        let required = try simulate(scenario {
            $0.clients[0].configuration.policy = .required
            $0.clients[0].configuration.plaintextRetryAfterTLSFailure = true  // an opportunistic policy's choice only
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1_800_000_000_000, maximumAttempts: 2)
            $0.attacker = [.replaceStartTLSReply("220 go ahead\r\n")]
        })
        XCTAssertEqual(required.statuses, [.temporaryFailure], "a required client never retries in plaintext")
        XCTAssertEqual(required.findings, [])
    }

    func testCommandInjectionAfterSTARTTLS() throws {
        // D1 (same segment) and D2 (later): compliant server drops the bytes; the flawed one
        // executes them inside TLS and the boundary oracle fires.
        for same in [true, false] {
            let attack = AttackAction.injectToServer(bytes: "RSET\r\nMAIL FROM:<evil@attacker.example>\r\n", sameSegment: same)
            let compliant = try simulate(scenario { $0.attacker = [attack] })
            if same {
                XCTAssertEqual(compliant.statuses, [.delivered], compliant.trace.text)
                XCTAssertEqual(compliant.findings, [], compliant.trace.text)
                XCTAssertTrue(compliant.trace.text.contains("discarded 41 plaintext octets"), compliant.trace.text)
            } else {
                // Bytes after the 220 land in the server's TLS engine: the handshake breaks.
                XCTAssertEqual(compliant.statuses, [.temporaryFailure], compliant.trace.text)
            }
            XCTAssertFalse(compliant.oracles.contains(.tlsBoundary))
            if same {
                let flawed = try simulate(scenario {
                    $0.server.configuration.flaws = [.keepsPlaintextAcrossStartTLS]
                    $0.attacker = [attack]
                })
                XCTAssertTrue(flawed.oracles.contains(.tlsBoundary), flawed.trace.text)
            }
        }
    }

    func testResponseInjectionAfter220() throws {
        let attack = AttackAction.injectToClient(bytes: "250-evil.example\r\n250 AUTH PLAIN\r\n")
        let compliant = try simulate(scenario { $0.attacker = [attack] })
        XCTAssertEqual(compliant.statuses, [.delivered], compliant.trace.text)
        XCTAssertEqual(compliant.findings, [], compliant.trace.text)
        let flawed = try simulate(scenario {
            $0.clients[0].configuration.flaws = [.keepsBufferedRepliesAcrossStartTLS]
            $0.attacker = [attack]
        })
        XCTAssertTrue(flawed.oracles.contains(.tlsBoundary), flawed.trace.text)
    }

    func testCapabilityTampering() throws {
        // D4: the attacker offers only LOGIN before TLS; a client keeping that list uses AUTH
        // LOGIN inside TLS although the server offers PLAIN there only.
        func run(_ flaws: Set<ClientFlaw>) throws -> RunResult {
            try simulate(scenario {
                $0.server.configuration.credentials = ["alice": "secret"]
                $0.server.configuration.authMechanisms = ["PLAIN"]
                $0.clients[0].configuration.credentials = Credentials(username: "alice", password: "secret", mechanisms: ["LOGIN", "PLAIN"])
                $0.clients[0].configuration.flaws = flaws
                $0.attacker = [.tamperCapabilities(add: ["AUTH LOGIN"], remove: [])]
            })
        }
        let compliant = try run([])
        XCTAssertEqual(compliant.statuses, [.delivered], compliant.trace.text)
        XCTAssertEqual(compliant.findings, [])
        let flawed = try run([.keepsPreTLSCapabilities])
        XCTAssertTrue(flawed.oracles.contains(.stateReset), flawed.trace.text)
    }

    func testAuthInjectionSessionFixation() throws {
        // D5: the attacker logs in before STARTTLS; a server keeping AUTH across the reset
        // attributes the victim's message to the attacker.
        func run(_ flaws: Set<ServerFlaw>) throws -> RunResult {
            try simulate(scenario {
                $0.server.configuration.credentials = ["mallory": "pw"]
                $0.server.configuration.flaws = flaws.union([.offersAuthPlainBeforeTLS])
                $0.attacker = [.injectAuth(username: "mallory", password: "pw")]
            })
        }
        let compliant = try run([])
        XCTAssertEqual(compliant.statuses, [.delivered], compliant.trace.text)
        XCTAssertNil(compliant.accepted.first?.authenticatedAs)
        // The setup's AUTH-before-TLS offer is itself reported; nothing else is.
        XCTAssertEqual(compliant.oracles, [.plaintextExposure], compliant.trace.text)
        let flawed = try run([.keepsAuthAcrossStartTLS])
        XCTAssertEqual(flawed.accepted.first?.authenticatedAs, "mallory")
        XCTAssertTrue(flawed.oracles.contains(.stateReset), flawed.trace.text)
    }
}

final class InterceptionTests: XCTestCase {
    func testTLSInterception() throws {
        // C6: the attacker answers the client's TLS with its own certificate.
        let required = try simulate(scenario {
            $0.clients[0].configuration.policy = .required
            $0.clients[0].configuration.retry = RetryPolicy(delay: 1, maximumAttempts: 1)
            $0.attacker = [.interceptTLS]
        })
        XCTAssertEqual(required.statuses, [.temporaryFailure], required.trace.text)
        XCTAssertEqual(required.outcomes.first?.tlsResultType, .certificateNotTrusted)
        XCTAssertEqual(required.findings, [])
        XCTAssertTrue(required.has("intercept-tls"))

        let opportunistic = try simulate(scenario { $0.attacker = [.interceptTLS] })
        XCTAssertEqual(opportunistic.statuses, [.delivered], opportunistic.trace.text)
        XCTAssertTrue(opportunistic.trace.text.contains("read") && opportunistic.trace.text.contains("MAIL FROM"), "encrypted but not protected: the attacker read the envelope")
        XCTAssertEqual(opportunistic.accepted.first?.overTLS, true)

        let ignoring = try simulate(scenario {
            $0.clients[0].configuration.policy = .required
            $0.clients[0].configuration.flaws = [.ignoresCertificateErrors]
            $0.attacker = [.interceptTLS]
        })
        XCTAssertTrue(ignoring.oracles.contains(.plaintextExposure), ignoring.trace.text)
    }
}
