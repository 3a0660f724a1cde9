import TestSupport
import XCTest
@testable import SMTPCore

final class DotStufferTests: XCTestCase {
    private func encode(_ s: String, _ policy: DotStuffer.LineEndingPolicy = .reject) throws -> String {
        String(decoding: try DotStuffer(lineEndings: policy).encode(s), as: UTF8.self)
    }

    func testStuffingAndTerminator() throws {
        // docs/catalog.md G1 vectors: ".", "..", ". x", body without final CRLF, empty body.
        XCTAssertEqual(try encode(""), ".\r\n")
        XCTAssertEqual(try encode("hi"), "hi\r\n.\r\n")
        XCTAssertEqual(try encode("hi\r\n"), "hi\r\n.\r\n")
        XCTAssertEqual(try encode(".\r\n"), "..\r\n.\r\n")
        XCTAssertEqual(try encode("..\r\n"), "...\r\n.\r\n")
        XCTAssertEqual(try encode(". x\r\n.y"), ".. x\r\n..y\r\n.\r\n")
        XCTAssertEqual(try encode("a\r\n.\r\nb"), "a\r\n..\r\nb\r\n.\r\n")
        XCTAssertEqual(try encode("\r\n"), "\r\n.\r\n")
    }

    func testBareLineEndingsByPolicy() throws {
        XCTAssertThrowsError(try encode("a\nb")) { XCTAssertEqual(($0 as? SMTPError)?.offset, 1) }
        XCTAssertThrowsError(try encode("a\rb")) { XCTAssertEqual(($0 as? SMTPError)?.code, .bareLineEndingInBody) }
        XCTAssertThrowsError(try encode("a\r"))
        XCTAssertEqual(try encode("a\n.\nb", .normalize), "a\r\n..\r\nb\r\n.\r\n")
        XCTAssertEqual(try encode("a\r.\rb\r", .normalize), "a\r\n..\r\nb\r\n.\r\n")
        XCTAssertEqual(try encode("a\n.\r\nb", .passThrough), "a\n.\r\nb\r\n.\r\n")
    }

    func testCanonicalBodiesByPolicy() throws {
        func canonical(_ s: String, _ policy: LineEndings.Policy) throws -> String {
            String(decoding: try LineEndings.canonical(Array(s.utf8), policy: policy), as: UTF8.self)
        }
        XCTAssertEqual(try canonical("", .normalize), "", "an empty body stays empty (BDAT 0 LAST)")
        XCTAssertEqual(try canonical("hi", .normalize), "hi\r\n")
        XCTAssertEqual(try canonical("a\nb\rc\r\n", .normalize), "a\r\nb\r\nc\r\n")
        XCTAssertEqual(try canonical("a\nb", .passThrough), "a\nb\r\n")
        XCTAssertEqual(try canonical("a\r", .passThrough), "a\r\r\n")
        XCTAssertThrowsError(try canonical("a\nb", .reject)) { XCTAssertEqual(($0 as? SMTPError)?.offset, 1) }
        XCTAssertEqual(try canonical(".x\r\n", .reject), ".x\r\n", "no dot-stuffing: this is the message")
    }

    func testDATAAndBDATCarryTheSameMessage() throws {
        // What the DATA path delivers (stuffed, then unstuffed by the decoder) is what the BDAT
        // path sends and what the oracles expect: one reading of line endings for all three.
        var rng = SplitMix64(seed: 5)
        let alphabet = Array("ab.\r\n \u{0}".utf8)
        for _ in 0..<500 {
            let body = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            let wire = try DotStuffer(lineEndings: .normalize, textLineLimit: nil).encode(body)
            var decoder = DataDecoder()
            XCTAssertEqual(decoder.decode(wire), wire.count)
            XCTAssertTrue(decoder.isComplete)
            XCTAssertEqual(decoder.body, try LineEndings.canonical(body, policy: .normalize), "\(body)")
        }
    }

    func testNormalizedBodiesNeverCarrySmugglingSequences() throws {
        for variant in SmugglingVariant.allCases {
            let body = Array("x".utf8) + variant.bytes + Array("MAIL FROM:<a@x.test>\r\n".utf8)
            let wire = try DotStuffer(lineEndings: .normalize).encode(body)
            var decoder = DataDecoder()
            XCTAssertEqual(decoder.decode(wire), wire.count, variant.rawValue)
            XCTAssertTrue(decoder.isComplete)
            // Normalising fixes line endings; a NUL before the dot stays, and stays reported.
            if variant == .nulBefore {
                XCTAssertEqual(decoder.findings.variants, [.nulBefore])
                XCTAssertFalse(decoder.findings.hasBareLineEndings)
            } else {
                XCTAssertTrue(decoder.findings.isClean, "\(variant): \(decoder.findings)")
            }
        }
    }

    func testTextLineLimit() throws {
        let ok = String(repeating: "a", count: 998)
        XCTAssertNoThrow(try encode(ok + "\r\n"))
        XCTAssertNoThrow(try encode("." + ok.dropFirst() + "\r\n"))  // the stuffing dot does not count
        XCTAssertThrowsError(try encode(ok + "a\r\n")) { XCTAssertEqual(($0 as? SMTPError)?.code, .textLineTooLong) }
        XCTAssertNoThrow(try DotStuffer(textLineLimit: nil).encode(ok + "a"))
    }
}

final class DataDecoderTests: XCTestCase {
    struct Outcome: Equatable {
        var consumed: Int
        var body: [UInt8]
        var terminator: DataDecoder.Terminator?
        var findings: DataFindings
    }

    /// Decodes with every feeding; all must agree.
    private func decode(
        _ bytes: [UInt8], configuration: DataDecoder.Configuration = .init(), file: StaticString = #filePath, line: UInt = #line
    ) -> Outcome {
        var reference: Outcome?
        for feeding in Feeding.all {
            var decoder = DataDecoder(configuration: configuration)
            var consumed = 0
            for segment in feeding.segments(bytes) {
                let n = decoder.decode(segment)
                consumed += n
                if n < segment.count { break }
            }
            let outcome = Outcome(consumed: consumed, body: decoder.body, terminator: decoder.terminator, findings: decoder.findings)
            if let reference {
                XCTAssertEqual(outcome, reference, "\(feeding)", file: file, line: line)
            } else {
                reference = outcome
            }
        }
        return reference!
    }

    private func decode(_ s: String, configuration: DataDecoder.Configuration = .init()) -> Outcome {
        decode(Array(s.utf8), configuration: configuration)
    }

    func testUnstuffingAndEndOfData() {
        let o = decode("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
        XCTAssertEqual(o.terminator, .standard)
        XCTAssertEqual(String(decoding: o.body, as: UTF8.self), "Subject: x\r\n\r\n.leading dot\r\n")
        XCTAssertEqual(o.consumed, 32)
        XCTAssertTrue(o.findings.isClean)
    }

    func testEmptyMessageAndDotsEverywhere() {
        XCTAssertEqual(decode(".\r\n").body, [])
        XCTAssertEqual(decode(".\r\n").consumed, 3)
        XCTAssertEqual(String(decoding: decode("..\r\n...\r\n. \r\n.\r\n").body, as: UTF8.self), ".\r\n..\r\n \r\n")
        XCTAssertNil(decode("a\r\n.").terminator)
        XCTAssertNil(decode("a\r\n.\r").terminator)
        XCTAssertEqual(decode("a.\r\n.\r\n").body, Array("a.\r\n".utf8))
    }

    func testRoundTripWithTheStuffer() throws {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("ab .\r\n".utf8)
        for _ in 0..<300 {
            // Random bodies made of whole CRLF lines (what a strict stuffer accepts).
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                var l = (0..<Int.random(in: 0...6, using: &rng)).map { _ in alphabet[Int.random(in: 0..<4, using: &rng)] }
                if Bool.random(using: &rng) { l.insert(0x2E, at: 0) }
                body += l + [13, 10]
            }
            let wire = try DotStuffer().encode(body)
            let o = decode(wire + Array("NEXT".utf8))
            XCTAssertEqual(o.body, body)
            XCTAssertEqual(o.consumed, wire.count)
            XCTAssertTrue(o.findings.isClean)
        }
    }

    func testEverySmugglingVariantIsReportedDistinctly() {
        // docs/catalog.md §1.8 / G2: each sequence followed by a smuggled transaction.
        let smuggled = "MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\nspoofed\r\n"
        for variant in SmugglingVariant.allCases {
            let payload = Array("Subject: a\r\n\r\nhello".utf8) + variant.bytes + Array(smuggled.utf8) + Array(".\r\n".utf8)
            let o = decode(payload)
            XCTAssertEqual(o.terminator, .standard, variant.rawValue)
            XCTAssertEqual(o.consumed, payload.count, variant.rawValue)
            XCTAssertEqual(o.findings.variants, [variant], variant.rawValue)
            XCTAssertEqual(o.findings.smuggling.first?.offset, 19, variant.rawValue)
            XCTAssertTrue(o.findings.hasBareLineEndings || variant == .nulBefore, variant.rawValue)
        }
    }

    func testSmugglingVariantsAtTheStartOfData() {
        // The DATA command's CRLF counts as the first CRLF of "\r\n.\n" and kin.
        let o = decode(".\nMAIL\r\n.\r\n")
        XCTAssertEqual(o.findings.variants, [.crlfLF])
        let p = decode("\u{0}.\r\n.\r\n")
        XCTAssertEqual(p.findings.variants, [.nulBefore])
    }

    func testFlawProfileAcceptsPseudoTerminators() {
        // A vulnerable server (CVE-2023-51764 class) ends data at the pseudo-terminator and reads the
        // smuggled commands as commands.
        for variant in SmugglingVariant.allCases {
            let before = Array("hello".utf8)
            let after = Array("MAIL FROM:<x@y.test>\r\n".utf8)
            let config = DataDecoder.Configuration(acceptedPseudoTerminators: [variant])
            let o = decode(before + variant.bytes + after + Array(".\r\n".utf8), configuration: config)
            XCTAssertEqual(o.terminator, .pseudo(variant), variant.rawValue)
            XCTAssertEqual(o.consumed, before.count + variant.bytes.count, variant.rawValue)
            XCTAssertTrue(o.body.starts(with: before), variant.rawValue)
            XCTAssertFalse(o.body.contains(0x2E), variant.rawValue)
        }
    }

    func testBareCRAndLFAreCountedAndKept() {
        let o = decode("a\rb\nc\r\n.\r\n")
        XCTAssertEqual(o.findings.bareCR, 1)
        XCTAssertEqual(o.findings.bareLF, 1)
        XCTAssertEqual(o.findings.firstBareCROffset, 1)
        XCTAssertEqual(o.findings.firstBareLFOffset, 3)
        XCTAssertEqual(o.body, Array("a\rb\nc\r\n".utf8))
        XCTAssertTrue(o.findings.smuggling.isEmpty)
    }

    func testTextLineLimitAtNMinusOneNAndNPlusOne() {
        for (length, long) in [(999, false), (1000, false), (1001, true)] {
            let line = String(repeating: "x", count: length - 2)
            XCTAssertEqual(decode(line + "\r\n.\r\n").findings.longLines, long ? 1 : 0, "\(length)")
            // A transparency dot does not count (RFC 5321 §4.5.3.1.6).
            XCTAssertEqual(decode("." + line + "\r\n.\r\n").findings.longLines, long ? 1 : 0, "dot \(length)")
        }
    }

    func testMessageSizeIsBounded() {
        var decoder = DataDecoder(configuration: .init(maximumMessageSize: 64 * 1024))
        let chunk = Array(String(repeating: "0123456789abcde\r\n", count: 1000).utf8)
        for _ in 0..<100 { decoder.decode(chunk) }
        decoder.decode(Array(".\r\n".utf8))
        XCTAssertTrue(decoder.isComplete)
        XCTAssertTrue(decoder.isOversized)
        XCTAssertEqual(decoder.body.count, 64 * 1024)
        XCTAssertEqual(decoder.bodySize, chunk.count * 100)
    }

    func testHostileInputHasBoundedFindings() {
        // 1 MiB of "\n.\n" with no CRLF: counted, bounded memory.
        var decoder = DataDecoder(configuration: .init(maximumMessageSize: 1 << 16))
        let chunk: [UInt8] = (0..<4096).map { $0 % 2 == 0 ? 0x0A : 0x2E }
        for _ in 0..<256 { decoder.decode(chunk) }
        XCTAssertFalse(decoder.isComplete)
        XCTAssertEqual(decoder.findings.smuggling.count, 32)
        XCTAssertGreaterThan(decoder.findings.smugglingCount, 100_000)
        XCTAssertEqual(decoder.body.count, 1 << 16)
    }

    func testRandomBytesAgreeAcrossFeedings() {
        var rng = SplitMix64(seed: 99)
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x2E, 0x00, 0x61]
        for _ in 0..<400 {
            let bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in alphabet[Int.random(in: 0..<5, using: &rng)] }
            let o = decode(bytes)
            XCTAssertEqual(o.findings.smugglingCount, ReferenceModel.smugglingCount(bytes, consumed: o.consumed), ASCII.escaped(bytes))
            if o.terminator == .standard {
                XCTAssertEqual(o.body, ReferenceModel.body(bytes), ASCII.escaped(bytes))
            }
        }
    }

    func testSlowAndFastPathsAgreeOnLargeInput() {
        // A large body crosses the bulk path; fed one byte at a time it takes the per-byte path.
        var body: [UInt8] = []
        var rng = SplitMix64(seed: 5)
        for i in 0..<2000 {
            if i % 7 == 0 { body.append(0x2E) }
            body += (0..<Int.random(in: 0...90, using: &rng)).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }
            if i % 97 == 0 { body += [0x0A, 0x2E, 0x0A] }
            body += [0x0D, 0x0A]
        }
        _ = decode(body + Array(".\r\n".utf8))
    }
}

/// A deliberately simple model of RFC 5321 §4.1.1.4 / §4.5.2 for differential checks: split on
/// CRLF, stop at the line ".", drop one leading dot.
enum ReferenceModel {
    static func body(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0D, i + 1 < bytes.count, bytes[i + 1] == 0x0A {
                lines.append(current)
                current = []
                i += 2
            } else {
                current.append(bytes[i])
                i += 1
            }
        }
        for line in lines {
            if line == [0x2E] { return out }
            out += (line.first == 0x2E ? Array(line.dropFirst()) : line) + [0x0D, 0x0A]
        }
        return out
    }

    /// Counts smuggling sequences by brute force over the consumed bytes, with the DATA command's
    /// CRLF in front and the priority rules of `DataDecoder` (longest match wins; sequences ending
    /// in CR need a following byte that is not LF).
    static func smugglingCount(_ bytes: [UInt8], consumed: Int) -> Int {
        let s = [0x0D, 0x0A] + bytes
        let end = consumed + 2
        var count = 0
        // `stop` is one past the byte being examined; s[2] is the first real byte.
        for stop in 3...max(3, end) where stop <= end {
            func has(_ seq: [UInt8]) -> Bool { stop >= seq.count && Array(s[(stop - seq.count)..<stop]) == seq }
            if s[stop - 1] == 0x0A {
                // Sequences ending in LF, longest first.
                let endingInCRLF: [[UInt8]] = [[13, 13, 10, 46, 13, 13, 10], [13, 10, 46, 13, 13, 10], [13, 10, 0, 46, 13, 10], [13, 46, 13, 10]]
                if endingInCRLF.contains(where: has) {
                    count += 1
                } else if has([10, 46, 13, 10]) {
                    if !has([13, 10, 46, 13, 10]) { count += 1 }  // that one is the real end of data
                } else if has([10, 46, 10]) || has([13, 46, 10]) {
                    count += 1
                }
            } else {
                // Sequences ending in CR are decided by the byte after them (s[stop - 1], not LF).
                let t = stop - 1
                func endsBefore(_ seq: [UInt8]) -> Bool { t >= seq.count && Array(s[(t - seq.count)..<t]) == seq }
                if s[t] == 0x0D && endsBefore([13, 10, 46, 13]) { continue }  // "\r\n.\r\r": one more byte decides
                if endsBefore([13, 10, 46, 13, 13]) || endsBefore([13, 10, 46, 13]) || endsBefore([10, 46, 13])
                    || endsBefore([13, 46, 13])
                {
                    count += 1
                }
            }
        }
        return count
    }
}

final class ChunkReaderTests: XCTestCase {
    func testChunksAreConsumedExactly() {
        for feeding in Feeding.all {
            let stream = Array("0123456789BDAT 0 LAST\r\n".utf8)
            var reader = ChunkReader(size: 10, last: false)
            var chunk: [UInt8] = []
            var rest: [UInt8] = []
            for segment in feeding.segments(stream) {
                if reader.isComplete { rest += segment; continue }
                let part = reader.consume(segment)
                chunk += part
                rest += segment.dropFirst(part.count)
            }
            XCTAssertEqual(chunk, Array("0123456789".utf8), "\(feeding)")
            XCTAssertEqual(rest, Array("BDAT 0 LAST\r\n".utf8), "\(feeding)")
        }
        var empty = ChunkReader(size: 0, last: true)
        XCTAssertTrue(empty.isComplete)
        XCTAssertEqual(empty.consume(Array("QUIT".utf8)[...]).count, 0)
    }

    func testDotsAndCRLFInChunksAreData() {
        var reader = ChunkReader(size: 5, last: true)
        XCTAssertEqual(Array(reader.consume(Array("\r\n.\r\nMAIL".utf8)[...])), Array("\r\n.\r\n".utf8))
        XCTAssertEqual(reader.remaining, 0)
    }
}
