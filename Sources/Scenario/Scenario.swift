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
        if let cell = sweep?.pairs?.cell(seed: seed) { cell.apply(to: &c) }
        if let cell = sweep?.compare?.cell(seed: seed) { cell.apply(to: &c) }
        return c
    }

    /// What `seed`'s run must show: the file's expectations, or the pair table's or the
    /// comparison's cell's.
    public func expectations(seed: UInt64) -> Expectations {
        if let cell = sweep?.compare?.cell(seed: seed) {
            return cell.expectations(expectations, messages: configuration.clients.reduce(0) { $0 + $1.messages.count })
        }
        return sweep?.pairs?.cell(seed: seed)?.expectations ?? expectations
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
    /// Every smuggling variant × relay behaviour × server behaviour, one cell per seed.
    public var pairs: SmugglingPairs?
    /// The same attacks under each connection security, one cell per seed.
    public var compare: SecurityComparison?

    /// The cells of the table the seeds walk (nil: no table), so seeds 1…count cover it once.
    public var cellCount: Int? {
        if let grid { return grid.cells.count }
        if let inject { return inject.count }
        return replies?.count ?? pairs?.count ?? compare?.count
    }
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
        return cells[SeedCell.index(seed: seed, cells: cells.count)]
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
        /// Only these oracles may fire (or none).
        case within([Oracle])
        /// Whatever fires is fine.
        case any
    }

    /// What a message's (or a recipient's) outcome must be: a status, `not-delivered` (either
    /// failure), or `possible-duplicate` (deferred after the end of data: the server may hold it).
    public enum MessageStatus: String, Hashable, Sendable, CaseIterable {
        case delivered
        case temporaryFailure = "temporary-failure"
        case permanentFailure = "permanent-failure"
        case notDelivered = "not-delivered"
        case possibleDuplicate = "possible-duplicate"

        public func matches(_ status: DeliveryStatus, possibleDuplicate: Bool = false) -> Bool {
            switch self {
            case .delivered: status == .delivered
            case .temporaryFailure: status == .temporaryFailure
            case .permanentFailure: status == .permanentFailure
            case .notDelivered: status != .delivered
            case .possibleDuplicate: status == .temporaryFailure && possibleDuplicate
            }
        }
    }

    /// Status of each message, in order (all clients' messages in order).
    public var messages: [MessageStatus]?
    /// Status per recipient (an address as written in the file): every message sent to it must
    /// have that outcome for it (RFC 5321 §4.2.5: a recipient deferred with 4yz is not delivered).
    public var recipients: [RecipientStatus] = []

    public struct RecipientStatus: Hashable, Sendable {
        public var address: String
        public var status: MessageStatus
        public init(address: String, status: MessageStatus) {
            self.address = address
            self.status = status
        }
    }
    /// How many messages the server accepted (behind a relay: the server it forwards to).
    public var accepted: Int?
    /// How many messages the relay accepted from the clients.
    public var relayed: Int?
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
    /// Attacker actions (by name) that must find no plaintext phase to work on (implicit TLS,
    /// RFC 8314 §3); an action that does and is not listed fails the run.
    public var notApplicable: [String] = []
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
        let k = SeedCell.index(seed: seed, cells: count)
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

/// `sweep.pairs` (docs/scenario-format.md): SMTP smuggling as a property of two parties, every
/// `SmugglingVariant` × what the relay does with it × what the server behind it does. Seed k runs
/// cell (k − 1) mod the cell count: the first client becomes the attacker's tool (its first
/// message carries the variant then a second transaction, sent without dot-stuffing, bare line
/// endings as they are, with BDAT where the relay's behaviour is about BDAT), the relay and the
/// server take the cell's behaviours. A cell where either side is fixed must not smuggle (the
/// claim of RFC 5321 §4.1.1.4 and §2.3.8 together); the others report whether it did.
public struct SmugglingPairs: Sendable {
    /// What the relay does (docs/catalog.md G3).
    public enum Outbound: String, CaseIterable, Sendable {
        /// Refuses a bare CR or LF at the end of data (Postfix `smtpd_forbid_bare_newline = reject`).
        case refuses
        /// Takes it and forwards CRLF (Postfix's `normalize`, Exchange Online since 2024).
        case normalises
        /// Takes it and forwards it as it is (the outbound half of the 2023 pairs).
        case passesThrough = "passes-through"
        /// Takes BDAT and forwards with DATA, dot-stuffing it (RFC 3030 §4.2 conversion).
        case bdatToData = "bdat-to-data"
        /// Takes BDAT and forwards its octets with DATA as they are: a line "." in the chunk ends
        /// the data at any server.
        case bdatToDataUnstuffed = "bdat-to-data-without-restuffing"

        /// Fixed: no server behind it can be made to end the data early.
        public var fixed: Bool { self == .refuses || self == .normalises || self == .bdatToData }
        /// Smuggles whatever the server behind it does.
        public var brokenAlone: Bool { self == .bdatToDataUnstuffed }
        var attackerUsesBDAT: Bool { self == .bdatToData || self == .bdatToDataUnstuffed }
    }

    /// What the server behind the relay does.
    public enum Inbound: String, CaseIterable, Sendable {
        /// Refuses a bare CR or LF in data (smtpsim's default).
        case strict
        /// Takes bare CR and LF as text; only CRLF.CRLF ends the data.
        case tolerant
        /// Ends the data at LF.LF, LF.CRLF or CRLF.LF (`accepts-bare-lf-end-of-data`, CVE-2023-51764 class).
        case endsAtBareLF = "ends-at-bare-lf"

        public var fixed: Bool { self != .endsAtBareLF }
    }

    /// A row: a smuggling variant, or the real end of data, which inside a BDAT chunk is text
    /// that a relay forwarding with DATA must stuff.
    public enum Row: Hashable, Sendable {
        case variant(SmugglingVariant)
        case endOfData

        public static let all = SmugglingVariant.allCases.map(Row.variant) + [.endOfData]
        public static let endOfDataName = "crlf-dot-crlf"

        public init?(name: String) {
            if name == Self.endOfDataName { self = .endOfData } else if let v = SmugglingVariant(rawValue: name) { self = .variant(v) } else { return nil }
        }

        public var name: String {
            switch self {
            case .variant(let v): v.rawValue
            case .endOfData: Self.endOfDataName
            }
        }

        public var bytes: [UInt8] {
            switch self {
            case .variant(let v): v.bytes
            case .endOfData: [0x0D, 0x0A, 0x2E, 0x0D, 0x0A]
            }
        }

        /// Readable form, e.g. `\r\n.\n`.
        public var escaped: String {
            switch self {
            case .variant(let v): v.escaped
            case .endOfData: "\\r\\n.\\r\\n"
            }
        }

        /// Only BDAT carries the real end of data as text.
        func applies(to outbound: Outbound) -> Bool { self != .endOfData || outbound.attackerUsesBDAT }
    }

    public struct Cell: Sendable {
        public var row: Row
        public var outbound: Outbound
        public var inbound: Inbound

        public init(row: Row, outbound: Outbound, inbound: Inbound) {
            self.row = row
            self.outbound = outbound
            self.inbound = inbound
        }

        /// Either side fixed, and the relay not broken on its own: the pair must not smuggle.
        public var mustBeClean: Bool { outbound.fixed || (inbound.fixed && !outbound.brokenAlone) }
        public var column: String { "\(outbound.rawValue) → \(inbound.rawValue)" }

        /// The attacker's message: the first client's first message's envelope, a body with the
        /// variant, then a whole second transaction from another sender.
        public func apply(to c: inout SimulationConfiguration) {
            guard !c.clients.isEmpty, !c.clients[0].messages.isEmpty else { return }
            var client = c.clients[0]
            client.configuration.lineEndings = .passThrough
            client.configuration.flaws.insert(.skipsDotStuffing)
            client.configuration.useChunking = outbound.attackerUsesBDAT
            let to = client.messages[0].recipients.first.map { "\($0)" } ?? "<postmaster>"
            client.messages[0].body = Array("Subject: smtpsim pair\r\n\r\nfirst message".utf8) + row.bytes
                + Array("MAIL FROM:<\(SmugglingPairs.smuggledSender)>\r\nRCPT TO:\(to)\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n".utf8)
            c.clients[0] = client
            var relay = c.relay ?? RelaySpec()
            switch outbound {
            case .refuses: relay.lineEndings = .reject
            case .normalises, .bdatToData: relay.lineEndings = .normalize
            case .passesThrough: relay.lineEndings = .passThrough
            case .bdatToDataUnstuffed:
                relay.lineEndings = .passThrough
                relay.client.configuration.flaws.insert(.skipsDotStuffing)
            }
            relay.client.configuration.useChunking = false
            c.relay = relay
            switch inbound {
            case .strict: c.server.configuration.rejectBareLineEndings = true
            case .tolerant: c.server.configuration.rejectBareLineEndings = false
            case .endsAtBareLF: c.server.configuration.flaws.insert(.acceptsBareLFEndOfData)
            }
        }

        /// What the run must show: the attacker's own bare line endings (transaction-count on the
        /// client), changed bodies and refusals are allowed; smuggling only where neither side is fixed.
        public var expectations: Expectations {
            var e = Expectations()
            e.findings = .within([.transactionCount, .roundTrip] + (mustBeClean ? [] : [.smuggling]))
            return e
        }
    }

    /// The second transaction's sender: a message from it behind the relay was smuggled.
    public static let smuggledSender = "smuggled@smtpsim.test"

    public let rows: [Row]
    public let outbound: [Outbound]
    public let inbound: [Inbound]
    /// The cells that exist (row, column), row-major: the real end of data only with BDAT.
    public let cells: [(row: Int, column: Int)]

    public init(rows: [Row] = Row.all, outbound: [Outbound] = Outbound.allCases, inbound: [Inbound] = Inbound.allCases) {
        self.rows = rows
        self.outbound = outbound
        self.inbound = inbound
        let columns = outbound.flatMap { o in inbound.map { (o, $0) } }
        cells = rows.indices.flatMap { r in columns.indices.filter { rows[r].applies(to: columns[$0].0) }.map { (r, $0) } }
    }

    /// Columns are pairs (outbound-major), rows variants.
    public var columns: [(Outbound, Inbound)] { outbound.flatMap { o in inbound.map { (o, $0) } } }
    public var count: Int { cells.count }

    /// The (row, column) seed k runs.
    public func position(seed: UInt64) -> (row: Int, column: Int)? {
        guard count > 0, seed >= 1 else { return nil }
        return cells[SeedCell.index(seed: seed, cells: count)]
    }

    public func cell(seed: UInt64) -> Cell? {
        guard let (row, column) = position(seed: seed) else { return nil }
        let (o, i) = columns[column]
        return Cell(row: rows[row], outbound: o, inbound: i)
    }
}

/// `sweep.compare` (docs/scenario-format.md): the same attacker actions against the file's pair
/// under each connection security (STARTTLS, implicit TLS, none), one cell per seed: which attacks
/// apply to which. Seed k runs cell (k − 1) mod the cell count, attacks row-major. A cell puts
/// its security on every client and server of the file (and the relay's two sides) and its one
/// action on the attacker. Where the action needs a plaintext phase and the security has none
/// (implicit TLS, RFC 8314 §3), the cell must report it not applicable, find nothing and deliver
/// every message, as the pair does unattacked; every other cell is judged by the file's `expect`,
/// with the attack's own `findings` when it names them.
public struct SecurityComparison: Sendable {
    public struct Cell: Sendable {
        public var attack: AttackAction
        public var security: ConnectionSecurity
        /// The oracles the attack must make fire where it applies (nil: the file's `expect`).
        public var findings: [Oracle]?

        public init(attack: AttackAction, security: ConnectionSecurity, findings: [Oracle]? = nil) {
            self.attack = attack
            self.security = security
            self.findings = findings
        }

        /// The action finds no plaintext phase to work on.
        public var notApplicable: Bool { attack.kind.needsPlaintextPhase && !security.hasPlaintextPhase }

        public func apply(to c: inout SimulationConfiguration) {
            c.attacker = [attack]
            Self.secure(&c.server.configuration, security)
            for i in c.clients.indices { Self.secure(&c.clients[i].configuration, security) }
            if var relay = c.relay {
                Self.secure(&relay.server.configuration, security)
                Self.secure(&relay.client.configuration, security)
                c.relay = relay
            }
        }

        static func secure(_ s: inout ServerConfiguration, _ security: ConnectionSecurity) {
            s.implicitTLS = security == .implicitTLS
            if security == .none {
                s.tlsAvailable = false
                s.extensionsBeforeTLS.removeAll { $0 == .startTLS }
            }
        }

        static func secure(_ c: inout ClientConfiguration, _ security: ConnectionSecurity) {
            c.implicitTLS = security == .implicitTLS
            if security == .none { c.policy = .plaintext }
            if security == .implicitTLS { c.plaintextRetryAfterTLSFailure = false }
        }

        /// What the run must show: the file's expectations, or (not applicable) the action
        /// reported so, no finding and every message delivered.
        public func expectations(_ file: Expectations, messages: Int) -> Expectations {
            guard notApplicable else {
                var e = file
                if let findings { e.findings = findings.isEmpty ? .none : .exactly(findings) }
                return e
            }
            var e = Expectations()
            e.notApplicable = [attack.name]
            e.messages = Array(repeating: .delivered, count: messages)
            e.findings = .none
            return e
        }
    }

    public let attacks: [AttackAction]
    public let securities: [ConnectionSecurity]
    /// Per attack, the oracles it must make fire where it applies (nil: the file's `expect`).
    public let findings: [[Oracle]?]

    public init(attacks: [AttackAction], securities: [ConnectionSecurity] = [.startTLS, .implicitTLS], findings: [[Oracle]?]? = nil) {
        self.attacks = attacks
        self.securities = securities
        self.findings = findings ?? attacks.map { _ in nil }
    }

    public var count: Int { attacks.count * securities.count }

    /// The (row, column) seed k runs.
    public func position(seed: UInt64) -> (row: Int, column: Int)? {
        guard count > 0, seed >= 1 else { return nil }
        let k = SeedCell.index(seed: seed, cells: count)
        return (k / securities.count, k % securities.count)
    }

    public func cell(seed: UInt64) -> Cell? {
        position(seed: seed).map { Cell(attack: attacks[$0.row], security: securities[$0.column], findings: findings[$0.row]) }
    }
}
