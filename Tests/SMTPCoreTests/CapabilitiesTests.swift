import XCTest
@testable import SMTPCore

final class CapabilitiesTests: XCTestCase {
    private func capabilities(_ wire: String) throws -> EHLOCapabilities {
        var parser = ReplyParser()
        parser.append(Array(wire.utf8))
        return try EHLOCapabilities(reply: XCTUnwrap(parser.next()))
    }

    func testParseEveryKnownExtension() throws {
        let caps = try capabilities(
            "250-mx.example.test Hello client\r\n250-STARTTLS\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
                + "250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN login\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-SMTPUTF8\r\n"
                + "250-REQUIRETLS\r\n250-DSN\r\n250 X-EXPS GSSAPI NTLM\r\n"
        )
        XCTAssertEqual(caps.domain, "mx.example.test")
        XCTAssertEqual(caps.greeting, "Hello client")
        XCTAssertEqual(
            caps.extensions,
            [
                .startTLS, .pipelining, .size(10_485_760), .eightBitMIME, .enhancedStatusCodes, .auth(["PLAIN", "LOGIN"]),
                .chunking, .binaryMIME, .smtpUTF8, .requireTLS, .other(keyword: "DSN", parameters: []),
                .other(keyword: "X-EXPS", parameters: ["GSSAPI", "NTLM"]),
            ]
        )
        XCTAssertTrue(caps.startTLS && caps.pipelining && caps.chunking && caps.smtpUTF8 && caps.requireTLS)
        XCTAssertEqual(caps.size, .some(10_485_760))
        XCTAssertEqual(caps.authMechanisms, ["PLAIN", "LOGIN"])
        XCTAssertTrue(caps.contains("dsn"))
    }

    func testSizeWithoutLimitAndOldAuthSyntax() throws {
        let caps = try capabilities("250-mx\r\n250-SIZE\r\n250 AUTH=PLAIN LOGIN\r\n")
        XCTAssertEqual(caps.size, .some(nil))
        XCTAssertEqual(caps.authMechanisms, ["PLAIN", "LOGIN"])
        XCTAssertNil(try capabilities("250 mx\r\n").size)
        XCTAssertEqual(try capabilities("250-mx\r\n250 SIZE 0\r\n").size, .some(nil))
        // Old syntax with an empty list (a fuzzer find: it used to read as one empty mechanism).
        XCTAssertEqual(try capabilities("250-mx\r\n250 AUTH=\r\n").authMechanisms, [])
    }

    func testStrippedStartTLSIsAnUnknownKeyword() throws {
        // docs/catalog.md B1: the "250-XXXXXXXX" fingerprint of a stripping middlebox.
        let caps = try capabilities("250-mx\r\n250-XXXXXXXX\r\n250 PIPELINING\r\n")
        XCTAssertFalse(caps.startTLS)
        XCTAssertEqual(caps.extensions.first, .other(keyword: "XXXXXXXX", parameters: []))
    }

    func testMalformedLines() {
        XCTAssertThrowsError(try capabilities("250-mx\r\n250-STARTTLS now\r\n250 x\r\n"))
        XCTAssertThrowsError(try capabilities("250-mx\r\n250-SIZE big\r\n250 x\r\n"))
        XCTAssertThrowsError(try capabilities("250-mx\r\n250--BAD\r\n250 x\r\n"))
        XCTAssertThrowsError(try capabilities("250-mx\r\n250 \r\n"))
        XCTAssertThrowsError(try capabilities("550 no\r\n"))
    }

    func testRoundTrip() throws {
        let caps = EHLOCapabilities(
            domain: "mx.example.test", greeting: "greets you",
            extensions: [.startTLS, .size(nil), .size(42), .auth(["PLAIN"]), .other(keyword: "X-FOO", parameters: ["a=b"])]
        )
        var parser = ReplyParser()
        parser.append(caps.reply.wire)
        XCTAssertEqual(try EHLOCapabilities(reply: XCTUnwrap(parser.next())), caps)
    }
}
