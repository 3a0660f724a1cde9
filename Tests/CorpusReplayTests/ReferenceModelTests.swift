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
}
