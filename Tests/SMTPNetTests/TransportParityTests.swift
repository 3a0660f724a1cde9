import EndpointHosting
import Foundation
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation
import XCTest

@testable import SMTPNet

/// One conversation, three transports (issue 28, after turmoil's `tests/parity.rs`): a scripted
/// client (the one interpreter of `ScriptStep`, `ScriptedEndpoint`) against smtpsim's server
/// over the World's links (virtual time), over an in-memory pipe (`DirectConnection`, no time)
/// and over loopback sockets (`SocketScript` against `NetServer`, wall-clock time). Each shows
/// the same event sequence, timestamps and segmentation aside: who wrote what, in which layer,
/// and the same script notes (none, or the same mismatch).
final class TransportParityTests: XCTestCase {
    /// A write: the side, the layer (0 clear, 1 TLS, 2 clear after TLS) and its octets; the
    /// consecutive writes of one side in one layer joined (sockets and links cut differently).
    struct Write: Equatable, CustomStringConvertible {
        var side: Side
        var epoch: Int
        var bytes: [UInt8]
        var description: String { "\(side.rawValue)[\(epoch)] \(String(decoding: bytes, as: UTF8.self).debugDescription)" }
    }

    static func joined(_ writes: [Write]) -> [Write] {
        var out: [Write] = []
        for w in writes where !w.bytes.isEmpty {
            if let last = out.last, last.side == w.side, last.epoch == w.epoch {
                out[out.count - 1].bytes += w.bytes
            } else {
                out.append(w)
            }
        }
        return out
    }

    /// The server all three run: smtpsim's default server, with the flaws, as `localhost`.
    static func configuration(_ flaws: Set<ServerFlaw>) -> ServerConfiguration {
        var c = ServerSpec().configuration
        c.hostname = "localhost"
        c.flaws = flaws
        return c
    }

    func world(_ steps: [ScriptStep], _ flaws: Set<ServerFlaw>) throws -> ([Write], [String]) {
        var config = SimulationConfiguration(seed: 1)
        config.server.configuration = Self.configuration(flaws)
        let client = SingleConnectionProgram(endpoint: ScriptedEndpoint(role: .client, steps: steps + [.close]), intendedMessages: [])
        let result = try World(configuration: config, clientPrograms: [client], trace: .events).run()
        var writes: [Write] = [], notes: [String] = []
        for e in result.trace.events {
            switch e.kind {
            case .plaintext(let d, let epoch, let bytes): writes.append(Write(side: d == .clientToServer ? .client : .server, epoch: epoch, bytes: bytes))
            case .note("client", let text) where text.hasPrefix("script:"): notes.append(text)
            default: break
            }
        }
        return (Self.joined(writes), notes)
    }

    func pipe(_ steps: [ScriptStep], _ flaws: Set<ServerFlaw>) throws -> ([Write], [String]) {
        let client = ScriptedEndpoint(role: .client, steps: steps + [.close])
        let connection = DirectConnection(client: client, server: BuiltInServerEndpoint(configuration: Self.configuration(flaws), connectionID: "C1"))
        let serverContext = try TLSContext(.server(Loopback.identity()))
        let clientContext = try TLSContext(TLSConfiguration(role: .client))
        connection.tls = { host in .openSSL(context: host.side == .server ? serverContext : clientContext, serverName: nil, verificationTime: Int64(Date().timeIntervalSince1970)) }
        connection.run()
        let notes = connection.events.compactMap { e -> String? in
            if e.side == .client, case .note(let n) = e.event, n.text.hasPrefix("script:") { return n.text }
            return nil
        }
        return (Self.joined(connection.writes.map { Write(side: $0.side, epoch: $0.epoch, bytes: $0.bytes) }), notes)
    }

    func socket(_ steps: [ScriptStep], _ flaws: Set<ServerFlaw>) async throws -> ([Write], [String]) {
        var server = NetServer(listen: HostPort(host: "127.0.0.1", port: 0), configuration: Self.configuration(flaws), identity: Loopback.identity())
        server.limits = SessionLimits(sessionSeconds: 20)
        let (run, _) = try await Loopback.with(server) { port in
            try await SocketScript.run(steps, against: HostPort(host: "127.0.0.1", port: port), timeout: 2)
        }
        let layers = ["plaintext": 0, "tls": 1, "clear-after-tls": 2]
        let writes = run.exchanges.map { Write(side: $0.direction == .sent ? .client : .server, epoch: layers[$0.layer] ?? -1, bytes: Array(Data(base64Encoded: $0.base64) ?? Data())) }
        return (Self.joined(writes), run.notes)
    }

    /// A delivery over STARTTLS; a mismatched expectation; and a command injected behind
    /// STARTTLS, against the compliant server and the one that keeps it. The flawed server's
    /// answer to the injected NOOP is a reply nobody asked for: on a socket it races the
    /// script's next step (the script reads it as the EHLO's and sends QUIT before or after the
    /// EHLO reply arrives), so that case is compared between the World and the pipe, where no
    /// timing decides.
    func testOneConversationIsTheSameOnEveryTransport() async throws {
        let delivery: [ScriptStep] = [
            .expect("220"), .sendLine("EHLO c.test"), .expect("250"), .sendLine("STARTTLS"), .expect("220"), .startTLS,
            .sendLine("EHLO c.test"), .expectReply(code: "250", advertises: ["PIPELINING"], withholds: ["STARTTLS"]),
            .send("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n"), .expect("250"), .expect("250"), .expect("354"),
            .send("Subject: parity\r\n\r\n..a dotted line\r\n.\r\n"), .expect("250"), .sendLine("QUIT"), .expect("221"),
        ]
        let mismatch: [ScriptStep] = [.expect("220"), .sendLine("EHLO c.test"), .expect("354"), .sendLine("QUIT"), .expect("221")]
        let injection: [ScriptStep] = [.expect("220"), .sendLine("EHLO c.test"), .expect("250"), .send("STARTTLS\r\nNOOP\r\n"), .expect("220"), .startTLS,
                                       .sendLine("EHLO c.test"), .expect("250"), .sendLine("QUIT"), .expect("221")]
        for (name, steps, flaws) in [("delivery", delivery, []), ("mismatch", mismatch, []), ("injection", injection, []),
                                     ("injection, flawed", injection, [ServerFlaw.keepsPlaintextAcrossStartTLS])] as [(String, [ScriptStep], Set<ServerFlaw>)] {
            let (w, wn) = try world(steps, flaws)
            let (p, pn) = try pipe(steps, flaws)
            XCTAssertEqual(p, w, "\(name): in-memory pipe against the World")
            XCTAssertEqual(pn, wn, name)
            XCTAssertGreaterThan(w.count, 4, name)
            XCTAssertEqual(wn.count, ["mismatch", "injection, flawed"].contains(name) ? 1 : 0, "\(name): \(wn)")
            guard flaws.isEmpty else { continue }
            let (s, sn) = try await socket(steps, flaws)
            XCTAssertEqual(s, w, "\(name): loopback sockets against the World")
            XCTAssertEqual(sn, wn, name)
        }
    }
}
