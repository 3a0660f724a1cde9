import SMTPCore
import SMTPHarness
import TestSupport
import XCTest

/// The reference models the parser targets judge against: they say what RFC 5321 says on the
/// cases the planted bugs of issue 14 were about, and the parsers agree with them on seeded
/// inputs built from the grammar's own alphabet (so the fuzz targets start from agreement).
final class ReferenceModelTests: XCTestCase {
    func testTheReplyModelRefusesMixedCodesEvenWhenTheLastLineIs250() {
        XCTAssertEqual(ReferenceReply.parse(Array("250-a\r\n521-b\r\n250 c\r\n".utf8), lineLimit: 512, maximumLines: 64),
                       [.error(.inconsistentMultilineReply), .reply(code: 250, texts: [Array("c".utf8)])])
        // And the Reply target holds the parser to it (it traps on a disagreement), whole and split.
        for settings: UInt8 in [0x00, 0x40, 0x41, 0x80] { Harness.reply([settings] + Array("521-a\r\n250 b\r\n250-c\r\n550 d\r\n".utf8)) }
    }

    func testTheFramerModelPutsTheLimitAtTheCRLF() {
        let exactly = [UInt8](repeating: 0x78, count: 510) + [0x0D, 0x0A]
        XCTAssertEqual(ReferenceFramer.frame(exactly, limit: 512), [.line([UInt8](repeating: 0x78, count: 510))])
        XCTAssertEqual(ReferenceFramer.frame([0x78] + exactly, limit: 512), [.error(.lineTooLong)], "one octet over")
        XCTAssertEqual(ReferenceFramer.frame(Array("a\nb\r\nc\r\n".utf8), limit: 512), [.error(.bareLineFeed), .line(Array("c".utf8))],
                       "a bare LF loses its line up to the next CR LF")
    }

    func testTheFramerAgreesWithTheModelHoweverTheStreamIsCut() {
        // Short limits, so that every rule meets every other: bare CR and LF before, at and
        // after the octet that makes a line too long; fed whole, byte by byte and in random cuts.
        var rng = SplitMix64(seed: 41)
        let alphabet = Array("xxxxy\r\n\r\n".utf8)
        for _ in 0..<20_000 {
            let limit = 3 + Int(rng.next() % 8)
            let input = (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let expected = ReferenceFramer.frame(input, limit: limit)
            for cut in [input.count, 1, 1 + Int(rng.next() % 5)] {
                var framer = LineFramer(maximumLineLength: limit)
                var got: [ReferenceFramer.Item] = []
                var start = 0
                repeat {
                    framer.append(input[start..<min(input.count, start + max(1, cut))])
                    start += max(1, cut)
                    while true {
                        do {
                            guard let line = try framer.next() else { break }
                            got.append(.line(Array(line)))
                        } catch {
                            got.append(.error(error.code))
                        }
                    }
                } while start < input.count
                XCTAssertEqual(got, expected, "limit \(limit), cut \(cut): \(String(decoding: input, as: UTF8.self).debugDescription)")
                if got != expected { return }
            }
        }
    }

    func testBase64AndPLAINAgreeWithTheirModels() {
        XCTAssertEqual(ReferenceBase64.decode(Array("AGFsaWNlAHNlY3JldA==".utf8)).map { Array($0) }, Array("\u{0}alice\u{0}secret".utf8))
        XCTAssertNil(ReferenceBase64.decode(Array("QR==".utf8)), "non-canonical: the dropped bits are not zero")
        XCTAssertNil(ReferencePlain.parse(Array("\u{0}alice\u{0}".utf8)), "RFC 4616: passwd is 1*SAFE")
        // Seeded inputs from the alphabet's edges, through the Auth target (it traps on a disagreement).
        var rng = SplitMix64(seed: 4616)
        let pieces = ["A", "Q", "g", "=", "==", "+", "/", "AA", "AAAA", "AGFs", "aWNl", "AHNl", "Y3Jl", "dA==", "AA==", "AAA=", " ", "*"].map { Array($0.utf8) }
        for _ in 0..<20_000 {
            var input: [UInt8] = []
            for _ in 0..<Int(rng.next() % 12) { input += pieces[Int(rng.next() % UInt64(pieces.count))] }
            Harness.auth(input)
            Harness.auth(Array(Base64.encode((0..<Int(rng.next() % 8)).map { _ in [0, 0x61, 0xC3, 0xA9, 0xFF][Int(rng.next() % 5)] }).utf8))
        }
    }

    func testBDATAgreesWithRFC3030() {
        XCTAssertEqual(ReferenceBDAT.parse(Array("bdat 10 last".utf8)), .chunk(size: 10, last: true))
        XCTAssertEqual(ReferenceBDAT.parse(Array("BDAT 10  LAST".utf8)), .refused)
        XCTAssertNil(ReferenceBDAT.parse(Array("BDATX 1".utf8)))
        var rng = SplitMix64(seed: 3030)
        let pieces = ["BDAT", "bdat", "BdAt", " ", "0", "7", "18446744073709551615", "18446744073709551616", "LAST", "last", "LASTX", "x", "\r\n", "abc"]
        for _ in 0..<20_000 {
            let line = (0..<Int(rng.next() % 6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            Harness.bdat(Array((line + "\r\nrest").utf8))
        }
    }

    func testTheReplyParserAgreesWithTheModelOnSeededInputs() {
        var rng = SplitMix64(seed: 14)
        let alphabet = Array("2505--  \r\n\r\n\r\nx9".utf8)
        for round in 0..<20_000 {
            let length = Int(rng.next() % (round % 10 == 0 ? 1200 : 60))
            var input: [UInt8] = [UInt8(truncatingIfNeeded: rng.next())]
            for _ in 0..<length { input.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            Harness.reply(input)  // traps on a disagreement
        }
    }

    func testTheMailboxModelSaysWhatRFC5321Says() {
        XCTAssertEqual(ReferenceMailbox.parse(Array("a.b@[IPv6:2001:db8::1]".utf8), allowUTF8: false), .mailbox(local: Array("a.b".utf8), host: "[IPv6:2001:db8::1]"))
        XCTAssertEqual(ReferenceMailbox.parse(Array("a@[IPv6:1:2:3:4:5:6:7::]".utf8), allowUTF8: false), .refused([.invalidAddress]),
                       "§4.1.3: \"::\" stands for at least two groups, so six may be written beside it")
        XCTAssertEqual(ReferenceMailbox.parse(Array("a@[IPv6:1:2:3:4:5::1.2.3.4]".utf8), allowUTF8: false), .refused([.invalidAddress]))
        XCTAssertNotNil(ReferenceMailbox.addressLiteral(Array("[IPv6:1:2:3:4::1.2.3.4]".utf8)))
        XCTAssertEqual(ReferenceMailbox.parse(Array(("\"" + String(repeating: "x", count: 63) + "\"@b").utf8), allowUTF8: false), .refused([.pathTooLong]))
        XCTAssertEqual(ReferenceMailbox.parse(Array("é@b".utf8), allowUTF8: false), .refused([.utf8NotAllowed]))
        XCTAssertEqual(ReferenceMailbox.parse(Array("a..b@c".utf8), allowUTF8: true), .refused([.invalidAddress]))
        // The parser agrees (the parser fixed by this model accepted seven groups beside "::").
        XCTAssertThrowsError(try Mailbox("a@[IPv6:1:2:3:4:5:6:7::]"))
        var rng = SplitMix64(seed: 5321)
        let pieces = ["a", "B", "0", ".", "..", "@", "\"", "\\", " ", "-", "!", "é", "\u{FF}", "[", "]", "IPv6:", "ipv6:", ":", "::", "1", "ffff",
                      "255", "256", "x-y", "tag:", String(repeating: "l", count: 63), String(repeating: "m", count: 64)].map { Array($0.utf8) }
        for _ in 0..<30_000 {
            var input: [UInt8] = [UInt8(rng.next() & 1)]
            for _ in 0..<Int(rng.next() % 10) { input += pieces[Int(rng.next() % UInt64(pieces.count))] }
            Harness.mailbox(input)  // traps on a disagreement
        }
    }

    func testCommandLinesAgreeWithTheirModel() {
        XCTAssertEqual(ReferenceCommand.parse(Array("mail from:<a@b> size=007 body=8bitmime".utf8), smtpUTF8: false),
                       .command(["MAIL", "<a@b>", "BODY=8BITMIME", "SIZE=7"]))
        XCTAssertEqual(ReferenceCommand.parse(Array("MAIL FROM:<é@b>".utf8), smtpUTF8: false), .refused([.utf8NotAllowed]))
        XCTAssertEqual(ReferenceCommand.parse(Array("RCPT TO:<@x,@y:Postmaster>".utf8), smtpUTF8: false), .command(["RCPT", "<Postmaster>"]))
        XCTAssertEqual(ReferenceCommand.parse(Array("STARTTLS x".utf8), smtpUTF8: false), .refused([.unexpectedArgument]))
        var rng = SplitMix64(seed: 41)
        let pieces = ["MAIL FROM:", "RCPT TO:", "mail from:", "EHLO ", "HELO ", "DATA", "RSET", "QUIT", "STARTTLS", "NOOP", "VRFY ", "HELP", "BDAT ", "AUTH ",
                      "XYZZ", "<", ">", "<>", "a@b", "\"q\"@c", "@r:", "Postmaster", "[1.2.3.4]", "[IPv6:::1]", " ", "  ", "SIZE=", "BODY=", "SMTPUTF8",
                      "REQUIRETLS", "AUTH=", "x", "9", "LAST", "PLAIN", "=", "é", "\u{FF}", "\t", "\r\n", "-", ".", "99999999999999999999"].map { Array($0.utf8) }
        for _ in 0..<20_000 {
            var input: [UInt8] = []
            for _ in 0..<Int(rng.next() % 8) { input += pieces[Int(rng.next() % UInt64(pieces.count))] }
            Harness.commandLine(input + [0x0D, 0x0A])  // traps on a disagreement
        }
    }

    func testEHLORepliesAgreeWithTheirModel() {
        XCTAssertEqual(ReferenceEHLO.extensions(code: 250, lines: ["mx", "AUTH=plain login", "size  100", "X-Y a"].map { Array($0.utf8) }),
                       ["AUTH PLAIN LOGIN", "SIZE 100", "X-Y a"])
        XCTAssertNil(ReferenceEHLO.extensions(code: 250, lines: ["mx", "STARTTLS now"].map { Array($0.utf8) }), "RFC 3207 §2: no parameters")
        var rng = SplitMix64(seed: 1869)
        let pieces = ["250-", "250 ", "mx\r\n", "STARTTLS", "SIZE", " 10", " x", "AUTH", "AUTH=", " PLAIN", "PIPELINING", "-X", "8BITMIME", "\r\n", " ", "é",
                      "99999999999999999999", "18446744073709551616"].map { Array($0.utf8) }
        for _ in 0..<20_000 {
            var input: [UInt8] = Array("250-mx\r\n".utf8)
            for _ in 0..<Int(rng.next() % 10) { input += pieces[Int(rng.next() % UInt64(pieces.count))] }
            Harness.ehloCapabilities(input + Array("\r\n250 OK\r\n".utf8))
        }
    }

    func testTheFramerTargetTakesItsLimitFromTheInput() {
        // One octet over a limit the input chose: the framer must refuse it, as the model does.
        Harness.lineFramer([5, 0] + Array("abcdef\r\nabcde\r\n".utf8))
        var rng = SplitMix64(seed: 2338)
        let alphabet = Array("xxxy\r\n\r\n".utf8)
        for _ in 0..<20_000 {
            Harness.lineFramer([UInt8(rng.next() % 12), UInt8(rng.next() % 6)] + (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
    }

    func testTheDataDecoderAgreesWithTheModelOnSeededBodies() {
        // Bodies long and short, with every end-of-data and smuggling sequence at every offset
        // (RFC 5321 §4.1.1.4, §4.5.2; docs/catalog.md G): whole and split, against the model.
        var rng = SplitMix64(seed: 4512)
        let pieces = ["x", "Subject: a", "\r\n", "\n", "\r", ".", "..", "\r\n.\r\n", "\r.\r\n", "\n.\n", "\n.\r\n", "\r\n.\n", "\r\n.\r",
                      "\u{0}", String(repeating: "y", count: 60)].map { Array($0.utf8) }
        for _ in 0..<20_000 {
            var input: [UInt8] = [UInt8(truncatingIfNeeded: rng.next())]
            for _ in 0..<Int(rng.next() % 14) { input += pieces[Int(rng.next() % UInt64(pieces.count))] }
            Harness.dataDecoder(input)  // traps on a disagreement
        }
    }
}
