import SMTPCore
import SMTPServer
import XCTest

/// Every command in every state (issue 4): the reply code the server gives, fed three ways.
final class ServerCommandTableTests: XCTestCase {
    static let states: [(String, String)] = [
        ("greeted", ""),
        ("ehlo", "EHLO c\r\n"),
        ("mail", "EHLO c\r\nMAIL FROM:<a@x.test>\r\n"),
        ("rcpt", "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"),
    ]

    /// command → expected code in greeted / ehlo / mail / rcpt.
    static let table: [(String, [Int])] = [
        ("EHLO c", [250, 250, 250, 250]),
        ("HELO c", [250, 250, 250, 250]),
        ("MAIL FROM:<a@x.test>", [503, 250, 503, 503]),
        ("RCPT TO:<b@y.test>", [503, 503, 250, 250]),
        ("DATA", [503, 503, 503, 354]),
        ("BDAT 0 LAST", [503, 503, 503, 250]),
        ("RSET", [250, 250, 250, 250]),
        ("NOOP", [250, 250, 250, 250]),
        ("VRFY postmaster", [252, 252, 252, 252]),
        ("HELP", [214, 214, 214, 214]),
        ("STARTTLS", [503, 220, 220, 220]),
        ("STARTTLS x", [501, 501, 501, 501]),
        ("AUTH PLAIN", [503, 530, 503, 503]),
        ("QUIT", [221, 221, 221, 221]),
        ("XYZZY", [500, 500, 500, 500]),
        ("MAIL FROM:<a@x.test> BOGUS=1", [503, 555, 503, 503]),  // sequence is checked before parameters
    ]

    func testEveryCommandInEveryState() {
        for (command, codes) in Self.table {
            for ((name, setup), expected) in zip(Self.states, codes) {
                var reference: [Int]?
                for feeding in Feeding.three {
                    var d = ServerDriver()
                    d.send(setup + command + "\r\n", feeding: feeding)
                    let got = d.codes.last
                    XCTAssertEqual(got, expected, "\(command) in state \(name), fed \(feeding)")
                    if let r = reference { XCTAssertEqual(d.codes, r) } else { reference = d.codes }
                }
            }
        }
    }

    func testEveryCommandInsideTLS() {
        let config = ServerConfiguration.with { $0.credentials = ["a": "b"] }
        let table: [(String, Int)] = [
            ("STARTTLS", 502), ("AUTH PLAIN", 334), ("AUTH CRAM-MD5", 504), ("MAIL FROM:<a@x.test>", 250), ("EHLO c", 250), ("QUIT", 221),
        ]
        for (command, code) in table {
            var d = ServerDriver(config)
            d.send("EHLO c\r\nSTARTTLS\r\n")
            d.tls()
            d.send("EHLO c\r\n\(command)\r\n")
            XCTAssertEqual(d.codes.last, code, command)
            XCTAssertTrue(d.server.isTLSActive)
        }
    }
}
