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
        if let grid = sweep?.grid, let cell = grid.cell(seed: seed) { c.faults.append(cell.rule) }
        if let inject = sweep?.inject { c.attacker += inject.actions(seed: seed) }
        if let rule = sweep?.replies?.rule(seed: seed) { c.server.configuration.rules.insert(rule, at: 0) }
        return c
    }
}

/// The `sweep` section: which seeds, which faults each seed may pick (swarm testing), and a grid
/// of fault × side × phase cells that the seeds walk through.
public struct SweepSpec: Sendable {
    public var seeds: ClosedRange<UInt64>?
    public var swarm: FaultSwarm
    public var grid: FaultGrid?
    /// Commands and replies injected at the boundary, one pair per seed.
    public var inject: InjectionSweep?
    /// Every command × reply class from the server, one cell per seed.
    public var replies: ReplyTable?
}

/// `sweep.grid` (docs/scenario-format.md): every fault, from every side it can act from, at
/// every phase; seed k runs cell (k − 1) mod the cell count, so seeds 1…count cover the grid once.
public struct FaultGrid: Sendable {
    public struct Cell: Hashable, Sendable {
        /// The fault as the grid lists it (its column), the side, the phase (its row).
        public var fault: String
        public var side: Side?
        public var phase: ProtocolPhase
        public var rule: FaultRule

        /// The column's heading: `tls-alert {alert: bad_record_mac} from client`.
        public var column: String { fault + (side.map { " from \($0.rawValue)" } ?? "") }
    }

    public let cells: [Cell]
    public let phases: [ProtocolPhase]
    public let columns: [String]

    /// Templates have neither `at` nor (for TLS session faults) `from`: the grid gives them.
    public init(faults: [FaultRule], phases: [ProtocolPhase], sides: [Side]) {
        var cells: [Cell] = []
        var columns: [String] = []
        for phase in phases {
            for template in faults {
                let name = Written.named(template.effect.kind.rawValue, template.effect.settings.filter { $0.key != "from" }).description
                let fromSides: [Side?] = Self.takesSide(template.effect) ? sides.map { $0 } : [nil]
                for side in fromSides {
                    var rule = template
                    if let side { rule.effect = rule.effect.from(side) }
                    rule.at = .phase(phase)
                    let cell = Cell(fault: name, side: side, phase: phase, rule: rule)
                    cells.append(cell)
                    if !columns.contains(cell.column) { columns.append(cell.column) }
                }
            }
        }
        self.cells = cells
        self.phases = phases
        self.columns = columns
    }

    static func takesSide(_ effect: FaultEffect) -> Bool { effect.from(.server).side == .server }

    public func cell(seed: UInt64) -> Cell? {
        guard !cells.isEmpty, seed >= 1 else { return nil }
        return cells[Int((seed - 1) % UInt64(cells.count))]
    }
}

/// What a scenario demands of its run. Absent keys demand nothing, except findings: a scenario
/// without `findings` demands none.
public struct Expectations: Hashable, Sendable {
    public enum Findings: Hashable, Sendable {
        case none
        /// Exactly these oracles fire (any number of times), whoever is at fault.
        case exactly([Oracle])
        /// Exactly these oracles fire with the client at fault, these with the server, these
        /// with neither named (run-wide findings); a side not given must have none.
        case bySide(client: [Oracle], server: [Oracle], run: [Oracle])
        /// Whatever fires is fine.
        case any
    }

    /// What a message's outcome must be: a status, or `not-delivered` (either failure).
    public enum MessageStatus: String, Hashable, Sendable, CaseIterable {
        case delivered
        case temporaryFailure = "temporary-failure"
        case permanentFailure = "permanent-failure"
        case notDelivered = "not-delivered"

        public func matches(_ status: DeliveryStatus) -> Bool {
            switch self {
            case .delivered: status == .delivered
            case .temporaryFailure: status == .temporaryFailure
            case .permanentFailure: status == .permanentFailure
            case .notDelivered: status != .delivered
            }
        }
    }

    /// Status of each message, in order (all clients' messages in order).
    public var messages: [MessageStatus]?
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
    /// Reply codes (or text) that must start some reply line the client read (after faults and
    /// the attacker).
    public var repliesSeen: [String] = []
    /// Reply codes (or text) that must start some reply line the server wrote.
    public var repliesWritten: [String] = []
    /// Text that must start some command line the server read.
    public var commandsSeen: [String] = []
    /// The RFC 8460 result type of the first message that has one.
    public var tlsResult: TLSResultType?
    /// Accepted messages arrived inside TLS.
    public var overTLS: Bool?
    public var findings: Findings = .none
    public var traceContains: [String] = []
    public var traceLacks: [String] = []

    public init() {}
}

/// `sweep.replies` (docs/scenario-format.md): every command × every reply class from the server,
/// the table that tests a client's answer to each. Seed k runs cell (k − 1) mod the cell count:
/// the server answers the first occurrence of the command on each connection with the reply (a
/// server rule put before the file's own).
public struct ReplyTable: Sendable {
    /// One reply of each class the client acts on, and a silent server: the default columns.
    public static let classes = ["250 2.0.0 ok (by rule)", "354 go ahead (by rule)", "421 4.3.2 closing (by rule)",
                                 "451 4.3.0 try again later (by rule)", "554 5.5.0 refused (by rule)", "silent"]
    /// The default rows: every command smtpsim's client sends, the greeting and the end of data.
    public static let commands = ["greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "end-of-data", "RSET", "QUIT"]

    public let rows: [ServerRule.Trigger]
    /// Reply texts (lines joined by CRLF), or `silent`.
    public let columns: [String]

    /// Every default command (and BDAT) × every default reply.
    public static let full = ReplyTable(rows: (commands + ["BDAT"]).map(ServerRule.Trigger.named), columns: classes)

    public init(rows: [ServerRule.Trigger], columns: [String]) {
        self.rows = rows
        self.columns = columns
    }

    public var count: Int { rows.count * columns.count }

    /// The (row, column) seed k runs.
    public func cell(seed: UInt64) -> (row: Int, column: Int)? {
        guard count > 0, seed >= 1 else { return nil }
        let k = Int((seed - 1) % UInt64(count))
        return (k / columns.count, k % columns.count)
    }

    /// The server rule of seed k's cell.
    public func rule(seed: UInt64) -> ServerRule? {
        guard let (row, column) = cell(seed: seed) else { return nil }
        let text = columns[column]
        return ServerRule(on: rows[row], condition: RuleCondition(nth: 1), reply: text == "silent" ? nil : RuleReply(text: text))
    }
}

/// The `tls` key's profiles by name (docs/scenario-format.md); also `sweep --tls` and `replay --tls`.
public enum TLSProfileName: String, CaseIterable, Sendable {
    case full
    case cheap
    case cheapTLS12 = "cheap-tls12"

    public var profile: TLSProfile {
        switch self {
        case .full: .full
        case .cheap: .cheap(.tls13)
        case .cheapTLS12: .cheap(.tls12)
        }
    }
}
