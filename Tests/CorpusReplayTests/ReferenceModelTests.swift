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
