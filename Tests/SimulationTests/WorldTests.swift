import SMTPClient
import SMTPCore
import SMTPServer
import Simulation
import XCTest

final class WorldTests: XCTestCase {
    func testHappyPathOverRealTLS() throws {
        let r = try simulate(scenario { $0.clients[0].configuration.policy = .required })
        XCTAssertEqual(r.statuses, [.delivered], r.trace.text)
        XCTAssertEqual(r.findings, [], r.trace.text)
        XCTAssertEqual(r.accepted.count, 1)
        XCTAssertEqual(r.accepted.first?.overTLS, true)
        XCTAssertTrue(r.trace.text.contains("client tls established: TLSv1.3"), r.trace.text)
    }
}
