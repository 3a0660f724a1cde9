import SMTPCore
import SMTPServer
import XCTest

/// Every server flaw profile is observably different from the compliant server in the attack it
/// exists for (docs/catalog.md references on `ServerFlaw`).
final class ServerFlawTests: XCTestCase {
    private func driver(_ flaws: Set<ServerFlaw>, credentials: [String: String] = [:]) -> ServerDriver {
        ServerDriver(.with { $0.flaws = flaws; $0.credentials = credentials })
    }

    func testKeepsPlaintextAcrossStartTLS() {
        // docs/catalog.md D1 / CVE-2011-0411.
        for flawed in [false, true] {
            var d = driver(flawed ? [.keepsPlaintextAcrossStartTLS] : [])
            d.send("EHLO c\r\nSTARTTLS\r\nRSET\r\n")
            d.tls()
            d.send("EHLO c\r\n")
            if flawed {
                XCTAssertEqual(d.discarded, [0])
                XCTAssertTrue(d.notes.contains(.keptPlaintextAcrossStartTLS(octets: 6)))
                XCTAssertEqual(d.codes, [250, 220, 250, 250], "the injected RSET is answered inside TLS")
            } else {
                XCTAssertEqual(d.discarded, [6])
                XCTAssertEqual(d.codes, [250, 220, 250])
            }
        }
    }

    func testAcceptsBareLFEndOfData() {
        // docs/catalog.md G2 / CVE-2023-51764: the smuggled second message.
        let script = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\n.\nMAIL FROM:<ceo@bank.example>\r\n"
            + "RCPT TO:<victim@y.test>\r\nDATA\r\nspoofed\r\n.\r\n"
        var compliant = driver([])
        compliant.send(script)
        XCTAssertEqual(compliant.maildrop.count, 0)
        XCTAssertEqual(compliant.codes.last, 550)
        var flawed = driver([.acceptsBareLFEndOfData])
        flawed.send(script)
        XCTAssertEqual(flawed.maildrop.count, 2)
        XCTAssertEqual(flawed.maildrop.messages.last?.reversePath.description, "<ceo@bank.example>")
    }

    func testKeepsAuthAcrossStartTLS() {
        // docs/catalog.md D5: an attacker's AUTH before STARTTLS survives the reset.
        let plain = try! SASL.PlainCredentials(username: "mallory", password: "pw").encoded()
        for keep in [false, true] {
            var flaws: Set<ServerFlaw> = [.offersAuthPlainBeforeTLS]
            if keep { flaws.insert(.keepsAuthAcrossStartTLS) }
            var d = driver(flaws, credentials: ["mallory": "pw"])
            d.send("EHLO c\r\nAUTH PLAIN \(plain)\r\nSTARTTLS\r\n")
            d.tls()
            d.send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n")
            XCTAssertEqual(d.maildrop.messages.first?.authenticatedAs, keep ? "mallory" : nil)
            XCTAssertEqual(d.server.authenticatedAs, keep ? "mallory" : nil)
        }
    }

    func testAdvertisesStartTLSAfterTLS() throws {
        for flawed in [false, true] {
            var d = driver(flawed ? [.advertisesStartTLSAfterTLS] : [])
            d.send("EHLO c\r\nSTARTTLS\r\n")
            d.tls()
            d.send("EHLO c\r\n")
            XCTAssertEqual(try EHLOCapabilities(reply: d.replies.last!).startTLS, flawed)
        }
    }

    func testOffersAuthPlainBeforeTLS() throws {
        for flawed in [false, true] {
            var d = driver(flawed ? [.offersAuthPlainBeforeTLS] : [])
            d.send("EHLO c\r\n")
            XCTAssertEqual(try EHLOCapabilities(reply: d.replies.last!).authMechanisms.isEmpty, !flawed)
        }
    }
}
