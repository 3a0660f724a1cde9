import XCTest
@testable import SMTPCore

final class MailboxTests: XCTestCase {
    func testValidMailboxes() throws {
        for text in [
            "a@b.c", "first.last@example.test", "user+tag@example.test", "!#$%&'*+-/=?^_`{|}~@x.test",
            "\"quoted user\"@example.test", "\"a\\\"b\"@example.test", "\"\"@example.test", "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]", "user@[IPv6:::]", "user@[IPv6:1:2:3:4:5:6:7:8]", "user@[IPv6:::ffff:192.0.2.1]",
            "user@[x-tag:anything]", "a@localhost", "a@1.2.3.4.example",
        ] {
            let m = try Mailbox(text)
            XCTAssertEqual(m.description, text)
        }
    }

    func testHosts() throws {
        XCTAssertEqual(try Mailbox("a@[192.0.2.1]").host, .ipv4("192.0.2.1"))
        XCTAssertEqual(try Mailbox("a@[IPv6:2001:db8::1]").host, .ipv6("2001:db8::1"))
        XCTAssertEqual(try Mailbox("a@[x-tag:abc]").host, .general(tag: "x-tag", content: "abc"))
        XCTAssertEqual(try Mailbox("a@Example.Test").host, .domain("Example.Test"))
    }

    func testInvalidMailboxes() {
        for text in [
            "", "a", "@x.test", "a@", "a..b@x.test", ".a@x.test", "a.@x.test", "a b@x.test", "a@-x.test",
            "a@x-.test", "a@x..test", "a@x.test.", "\"unterminated@x.test", "a@[300.1.1.1]", "a@[1.2.3]",
            "a@[IPv6:1:2:3:4:5:6:7:8:9]", "a@[IPv6:1::2::3]", "a@[IPv6:zz::1]", "a@[", "a@[1.2.3.4", "a@x.test extra",
            "a@" + String(repeating: "x", count: 64) + ".test", "\"a\u{1}\"@x.test",
        ] {
            XCTAssertThrowsError(try Mailbox(text), text)
        }
    }

    func testUTF8OnlyWhenAllowed() throws {
        XCTAssertThrowsError(try Mailbox("jöran@example.test")) { error in
            XCTAssertEqual((error as? SMTPError)?.code, .utf8NotAllowed)
        }
        XCTAssertEqual(try Mailbox("jöran@bücher.example", allowUTF8: true).localPart, "jöran")
        // Overlong and surrogate encodings are not UTF-8.
        XCTAssertThrowsError(try PathParser.parseMailbox([0xC0, 0x80, 0x40, 0x78], limits: .rfc, allowUTF8: true))
        XCTAssertThrowsError(try PathParser.parseMailbox([0xED, 0xA0, 0x80, 0x40, 0x78], limits: .rfc, allowUTF8: true))
    }

    func testLengthLimits() throws {
        XCTAssertNoThrow(try Mailbox(String(repeating: "a", count: 64) + "@x.test"))
        XCTAssertThrowsError(try Mailbox(String(repeating: "a", count: 65) + "@x.test")) {
            XCTAssertEqual(($0 as? SMTPError)?.code, .pathTooLong)
        }
        let label = String(repeating: "d", count: 63)
        let domain255 = [label, label, label, String(repeating: "d", count: 63)].joined(separator: ".")
        XCTAssertEqual(domain255.count, 255)
        XCTAssertNoThrow(try Mailbox("a@" + domain255))
        XCTAssertThrowsError(try Mailbox("a@" + domain255 + "d"))
        XCTAssertThrowsError(try Mailbox("a@d." + domain255)) {
            XCTAssertEqual(($0 as? SMTPError)?.code, .pathTooLong)
        }
    }

    func testMemberwiseInitValidates() throws {
        XCTAssertNoThrow(try Mailbox(localPart: "a", host: .domain("x.test")))
        XCTAssertThrowsError(try Mailbox(localPart: "a\r\nRSET", host: .domain("x.test")))
        XCTAssertThrowsError(try Mailbox(localPart: "a", host: .domain("x test")))
    }
}
