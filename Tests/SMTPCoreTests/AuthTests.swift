import XCTest
@testable import SMTPCore

final class AuthTests: XCTestCase {
    func testBase64RFC4648Vectors() throws {
        // RFC 4648 §10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(plain), encoded)
            XCTAssertEqual(try Base64.decode(encoded), Array(plain.utf8))
        }
    }

    func testBase64RejectsNonCanonicalInput() {
        for bad in ["Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\r\n", "=Zm9", "Zm=v", "Zm9v====", "Zm-v"] {
            XCTAssertThrowsError(try Base64.decode(bad), bad) {
                XCTAssertEqual(($0 as? SMTPError)?.code, .invalidBase64)
                XCTAssertEqual(($0 as? SMTPError)?.reply?.code.value, 501)
            }
        }
    }

    func testBase64RoundTripOfRandomBytes() throws {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(try Base64.decode(Base64.encode(bytes)), bytes)
        }
    }

    func testPlainRFC4616() throws {
        // RFC 4616 §4 example: "\0tim\0tanstaaftanstaaf".
        let c = try SASL.PlainCredentials(base64: "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
        XCTAssertEqual(c, SASL.PlainCredentials(username: "tim", password: "tanstaaftanstaaf"))
        XCTAssertEqual(try c.encoded(), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
        let withAuthz = SASL.PlainCredentials(authorizationID: "Ursel", username: "Kurt", password: "xipj3plmq")
        XCTAssertEqual(try SASL.PlainCredentials(base64: withAuthz.encoded()), withAuthz)
    }

    func testPlainRejectsMalformedMessages() {
        for message in [[0x61], [0, 0x61], [0, 0x61, 0], [0, 0, 0x70], [0, 0x61, 0, 0x70, 0, 0x71], [0, 0x61, 0, 0xFF]] as [[UInt8]] {
            XCTAssertThrowsError(try SASL.PlainCredentials(base64: Base64.encode(message))) {
                XCTAssertEqual(($0 as? SMTPError)?.code, .invalidSASLMessage)
            }
        }
        XCTAssertThrowsError(try SASL.PlainCredentials(username: "a\u{0}b", password: "p").encoded())
        XCTAssertThrowsError(try SASL.PlainCredentials(username: String(repeating: "u", count: 256), password: "p").encoded())
    }

    func testResponsesCancelAndLimits() throws {
        XCTAssertEqual(try SASL.parseResponse(Array("dGlt".utf8)[...]), .data(Array("tim".utf8)))
        XCTAssertEqual(try SASL.parseResponse(Array("=".utf8)[...]), .data([]))
        XCTAssertThrowsError(try SASL.parseResponse(Array("*".utf8)[...])) {
            XCTAssertEqual(($0 as? SMTPError)?.code, .authCancelled)
            XCTAssertEqual(($0 as? SMTPError)?.reply?.description, "501 5.0.0 Authentication cancelled")
        }
        XCTAssertThrowsError(try SASL.parseResponse(Array("not base64!".utf8)[...])) {
            XCTAssertEqual(($0 as? SMTPError)?.reply?.enhancedCode?.description, "5.5.2")
        }
        let atLimit = [UInt8](repeating: 0x41, count: 12284)
        XCTAssertNoThrow(try SASL.parseResponse(atLimit[...]))
        XCTAssertThrowsError(try SASL.parseResponse((atLimit + [0x41, 0x41, 0x41, 0x41])[...])) {
            XCTAssertEqual(($0 as? SMTPError)?.code, .authLineTooLong)
            XCTAssertEqual(($0 as? SMTPError)?.reply?.description, "500 5.5.6 Authentication Exchange line is too long")
        }
        XCTAssertEqual(try Base64.decode(SASL.loginUsernameChallenge), Array("Username:".utf8))
        XCTAssertEqual(try SASL.decodeInitialResponse("="), [])
    }
}
