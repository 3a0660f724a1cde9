import SMTPHarness
import XCTest
import Foundation
final class TmpDebugTests: XCTestCase {
    func testDump() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: ProcessInfo.processInfo.environment["DUMP"]!)))
        let (config, result) = Harness.startTLSBoundaryRun(bytes)!
        print(config.faults, config.attacker)
        print(result.trace.text)
        print(result.findings)
    }
}
