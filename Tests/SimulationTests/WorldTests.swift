import EndpointHosting
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

    /// A finished connection lets go of its endpoints (and with them the machines, their buffers
    /// and any TLS engine) while the run goes on: a run's memory follows the connections open at
    /// once, not all it made.
    func testAFinishedConnectionReleasesItsEndpointsDuringTheRun() throws {
        final class Watching: ServerProgram {
            let inner: BuiltInServerProgram
            var endpoints: [Weak] = []
            init(_ configuration: ServerConfiguration) { inner = BuiltInServerProgram(configuration: configuration) }
            func accept(connection: Int) -> SimulatedEndpoint {
                let e = inner.accept(connection: connection)
                endpoints.append(Weak(e))
                return e
            }
            var accepted: [AcceptedMessage] { inner.accepted }
        }
        final class Weak { weak var value: AnyObject?; init(_ v: AnyObject) { value = v } }
        // Three clients one after another over TLS: connections 1 and 2 end before 3 starts.
        let config = scenario {
            $0.clients = (0..<3).map { i in
                var spec = ClientSpec(configuration: ClientConfiguration(), messages: [message()])
                spec.configuration.policy = .required
                spec.connectAt = Int64(i) * 60_000_000_000
                return spec
            }
        }
        let program = Watching(config.seededServerConfiguration)
        let world = try World(configuration: config, serverProgram: program)
        let result = world.run()
        XCTAssertEqual(result.statuses, [.delivered, .delivered, .delivered])
        XCTAssertEqual(program.endpoints.count, 3)
        XCTAssertTrue(program.endpoints.allSatisfy { $0.value == nil }, "every finished connection's server endpoint is freed while the world lives")
        XCTAssertEqual(result.accepted.count, 3, "what the server accepted outlives its endpoints")
        withExtendedLifetime(world) {}
    }
}
