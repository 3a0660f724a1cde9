import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer
import SMTPTLS
import Simulation

/// One scenario file: what to simulate and what must come out (docs/scenario-format.md).
public struct Scenario: Sendable {
    public var file: String
    public var name: String
    public var description: String
    public var seed: UInt64
    public var configuration: SimulationConfiguration
    /// A server script instead of smtpsim's server.
    public var serverScript: [ScriptStep]?
    /// Per client: a script instead of smtpsim's client (nil keeps the built-in client).
    public var clientScripts: [[ScriptStep]?]
    public var expectations: Expectations
    /// Seeds and swarm faults for `smtpsim sweep`.
    public var sweep: SweepSpec?

    /// The configuration for `seed`: the file's faults plus the swarm faults this seed picks.
    public func configuration(seed: UInt64) -> SimulationConfiguration {
        var c = configuration
        c.seed = seed
        if let swarm = sweep?.swarm { c.faults += swarm.choose(seed: seed) }
        return c
    }
}

/// The `sweep` section: which seeds, and which faults each seed may pick (swarm testing).
public struct SweepSpec: Sendable {
    public var seeds: ClosedRange<UInt64>?
    public var swarm: FaultSwarm
}

/// What a scenario demands of its run. Absent keys demand nothing, except findings: a scenario
/// without `findings` demands none.
public struct Expectations: Hashable, Sendable {
    public enum Findings: Hashable, Sendable {
        case none
        /// Exactly these oracles fire (any number of times).
        case exactly([Oracle])
        /// Whatever fires is fine.
        case any
    }

    /// Status of each message, in order (all clients' messages in order).
    public var messages: [DeliveryStatus]?
    /// How many messages the server accepted.
    public var accepted: Int?
    /// `at-most-one`: a message may be accepted twice (a reset after the final dot, RFC 5321
    /// §4.5.3.2.6) but never more; `none`: never twice.
    public var duplicates: Duplicates?

    public enum Duplicates: String, Hashable, Sendable {
        case none
        case atMostOne = "at-most-one"
    }
    /// The exact bodies the server accepted, in order (text with LF made CRLF).
    public var acceptedBodies: [[UInt8]]?
    /// Reply codes (or text) that must start some server reply line the client saw.
    public var repliesSeen: [String] = []
    /// The RFC 8460 result type of the first message that has one.
    public var tlsResult: TLSResultType?
    /// Accepted messages arrived inside TLS.
    public var overTLS: Bool?
    public var findings: Findings = .none
    public var traceContains: [String] = []
    public var traceLacks: [String] = []

    public init() {}
}
