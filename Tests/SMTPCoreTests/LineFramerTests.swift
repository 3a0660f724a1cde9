import XCTest
@testable import SMTPCore

final class LineFramerTests: XCTestCase {
    private func check(_ input: String, _ expected: [Framed], limit: Int = 512, file: StaticString = #filePath, line: UInt = #line) {
        for feeding in Feeding.all {
            XCTAssertEqual(frameAll(Array(input.utf8), feeding: feeding, limit: limit), expected, "\(feeding)", file: file, line: line)
        }
    }

    func testCRLFLines() {
        check("EHLO a\r\nQUIT\r\n", [.line("EHLO a"), .line("QUIT")])
        check("\r\n", [.line("")])
        check("partial", [])
    }

    func testBareLFIsAnErrorNotALineEnd() {
        // RFC 5321 §2.3.8: the whole line holding the bare LF is rejected, the framer resumes after CRLF.
        check("RSET\nQUIT\r\nNOOP\r\n", [.error(.bareLineFeed, offset: 4), .line("NOOP")])
        check("\nA\r\n", [.error(.bareLineFeed, offset: 0)])
    }

    func testBareCRIsAnErrorNotALineEnd() {
        check("RSET\rQUIT\r\nNOOP\r\n", [.error(.bareCarriageReturn, offset: 4), .line("NOOP")])
        check("A\r\r\nB\r\n", [.error(.bareCarriageReturn, offset: 1), .line("B")])
    }

    func testCRAtTheEndWaitsForItsLF() {
        var framer = LineFramer()
        framer.append(Array("QUIT\r".utf8))
        XCTAssertNil(try framer.next())
        framer.append([0x0A])
        XCTAssertEqual(try framer.next().map { Array($0) }, Array("QUIT".utf8))
    }

    func testLimitAtNMinusOneNAndNPlusOne() {
        // The limit counts CRLF: 512 octets in all means 510 octets of text.
        for (textLength, ok) in [(509, true), (510, true), (511, false)] {
            let text = String(repeating: "a", count: textLength)
            let expected: [Framed] = ok ? [.line(text), .line("QUIT")] : [.error(.lineTooLong, offset: 0), .line("QUIT")]
            check(text + "\r\nQUIT\r\n", expected)
        }
    }

    func testOversizedLineIsReportedOnceWithBoundedMemory() {
        var framer = LineFramer()
        var errors = 0
        var maxBuffered = 0
        let chunk = [UInt8](repeating: 0x41, count: 4096)
        for _ in 0..<256 {  // 1 MiB with no CRLF
            framer.append(chunk)
            while true {
                do {
                    guard (try framer.next()) != nil else { break }
                    XCTFail("no line expected")
                } catch {
                    XCTAssertEqual(error.code, .lineTooLong)
                    errors += 1
                }
            }
            maxBuffered = max(maxBuffered, framer.bufferedByteCount)
        }
        XCTAssertEqual(errors, 1)
        XCTAssertLessThanOrEqual(maxBuffered, 4096 + 512)
        framer.append(Array("\r\nQUIT\r\n".utf8))
        XCTAssertEqual(try framer.next().map { String(decoding: $0, as: UTF8.self) }, "QUIT")
    }

    func testOneByteAtATimeIsLinear() {
        // 64 KiB of a line fed one byte at a time: the framer examines each octet once (counted),
        // where a rescanning framer would examine about 2 G; the same holds for a rejected line.
        var framer = LineFramer(maximumLineLength: 1 << 17)
        for _ in 0..<(1 << 16) {
            framer.append(CollectionOfOne(0x61))
            XCTAssertNil(try framer.next())
        }
        framer.append([0x0D, 0x0A])
        XCTAssertEqual(try framer.next()?.count, 1 << 16)
        XCTAssertEqual(framer.octetsExamined, (1 << 16) + 2, "each octet examined exactly once")

        var rejecting = LineFramer(maximumLineLength: 512)
        var errors = 0
        for _ in 0..<(1 << 16) {
            rejecting.append(CollectionOfOne(0x61))
            do { _ = try rejecting.next() } catch { errors += 1 }
        }
        XCTAssertEqual(errors, 1, "the oversized line is reported once")
        XCTAssertLessThanOrEqual(rejecting.octetsExamined, (1 << 16) + 512, "discarding is linear too")
    }

    func testHostileBytesNeverCrash() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0...600, using: &rng)).map { _ in
                [0x0D, 0x0A, 0x00, 0x41, 0xFF, 0x2E][Int.random(in: 0..<6, using: &rng)] as UInt8
            }
            let reference = frameAll(bytes, feeding: .whole)
            XCTAssertEqual(frameAll(bytes, feeding: .byteByByte), reference)
            XCTAssertEqual(frameAll(bytes, feeding: .randomSplits(seed: 3)), reference)
        }
    }

    func testTakeAndDiscardBufferedBytes() {
        var framer = LineFramer()
        framer.append(Array("STARTTLS\r\nRSET\r\nMAIL".utf8))
        XCTAssertEqual(try framer.next().map { Array($0) }, Array("STARTTLS".utf8))
        XCTAssertEqual(framer.discardBufferedBytes(), 10)
        XCTAssertEqual(framer.bufferedByteCount, 0)
        XCTAssertNil(try framer.next())
        framer.append(Array("DATA\r\nbody".utf8))
        XCTAssertNotNil(try framer.next())
        XCTAssertEqual(framer.takeBufferedBytes(), Array("body".utf8))
        XCTAssertEqual(framer.streamOffset, 30)
    }
}
