import SMTPCore
import XCTest

/// The memchr readings of line endings agree with the plain octet-by-octet rules they replace.
final class LineEndingsTests: XCTestCase {
    /// The rule, one octet at a time: an LF first or after anything but CR; a CR followed by
    /// anything but LF (a CR at the end is not judged).
    static func bareByOctets(_ b: [UInt8]) -> Bool {
        for i in b.indices {
            if b[i] == 0x0A, i == 0 || b[i - 1] != 0x0D { return true }
            if b[i] == 0x0D, i + 1 < b.count, b[i + 1] != 0x0A { return true }
        }
        return false
    }

    /// Every string of up to 6 octets over {CR, LF, "a"}, and 2,000 seeded longer ones.
    func testBareLineEndingAndCanonicalAgreeWithTheOctetRules() {
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x61]
        var inputs: [[UInt8]] = [[]]
        var frontier: [[UInt8]] = [[]]
        for _ in 1...6 {
            frontier = frontier.flatMap { p in alphabet.map { p + [$0] } }
            inputs += frontier
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            var b: [UInt8] = []
            for _ in 0..<Int(state % 300) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                b.append(alphabet[Int(state >> 61) % 3])
            }
            inputs.append(b)
        }
        for b in inputs {
            XCTAssertEqual(LineEndings.hasBareLineEnding(b), Self.bareByOctets(b), "\(b)")
            // Canonical: empty, or every line ended by CRLF, the last one too.
            let canonical = b.isEmpty || (b.count >= 2 && b.suffix(2) == [0x0D, 0x0A] && !Self.bareByOctets(b))
            XCTAssertEqual(LineEndings.isCanonical(b), canonical, "\(b)")
            if !canonical { XCTAssertNotEqual(try LineEndings.canonical(b, policy: .normalize), b, "\(b)") }
        }
    }
}
