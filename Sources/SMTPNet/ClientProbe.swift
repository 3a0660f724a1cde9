import EndpointHosting
import Foundation
import SMTPCore
import SMTPServer
import Synchronization

/// `smtpsim probe --client`: a real mail client judged check by check (issue 29). For each check
/// smtpsim serves one server behaviour on a fresh listener, runs the client's command once, waits
/// for it to exit (stopping it by its process id past the timeout), and judges the connections it
/// made: by the oracles one end can see (`SessionJudge`), by what the check requires of a client
/// configured with the given policy, and by whether the client's exit status told the truth.
public struct ClientProbe: Sendable {
    /// What the client was configured to promise.
    public enum Policy: String, Sendable, CaseIterable, Codable {
        /// TLS with a verified certificate, or no delivery.
        case required
        /// TLS when offered, plaintext otherwise (RFC 7435); never plaintext on a connection
        /// whose upgrade failed (docs/catalog.md C4).
        case opportunistic
    }

    /// What a check requires of the client beyond the oracles, judged on the connections it made.
    /// The oracles that judge a client by what it wrote (`SessionJudge`: credentials or the
    /// envelope in the clear, or to a certificate that does not verify under a required policy;
    /// a session carried on in the clear after a 220 to STARTTLS) run on every connection.
    public enum Requirement: String, Sendable, Codable, CaseIterable {
        /// The message reaches the server.
        case delivers
        /// The message reaches the server inside TLS.
        case deliversOverTLS = "delivers-over-tls"
        /// The message file's body arrives whole, its line ends made CRLF (dot-stuffing done, no bare
        /// LF sent: RFC 5321 §4.5.2, §2.3.8), whatever the client does with the headers.
        case unchangedMessage = "unchanged-message"
        /// The server sees only commands the client's user asked for: an address carrying CRLF and
        /// a command of its own (`ClientProbe.injectedMarker`) is refused or escaped, never sent
        /// as it is (Nodemailer GHSA-c7w3-x93f-qmm8, Jakarta Mail CVE-2025-7962).
        case onlyItsOwnCommands = "only-its-own-commands"
        /// A transaction the client starts inside TLS ends with the message accepted: a client that
        /// took replies from before the handshake for the server's reads every later reply against
        /// the wrong command and never completes it (giving up before MAIL is fine).
        case inStepInsideTLS = "in-step-inside-tls"
        /// Inside TLS the client uses only what the EHLO reply inside TLS offers (RFC 3207 §4.2):
        /// no BDAT where only the reply before TLS listed CHUNKING.
        case capabilitiesFromAfterTLS = "capabilities-from-after-tls"
    }

    /// One check: the server behaviour, and what a client under each policy must (`requires`) and
    /// should (`prefers`: a warning when not) do there.
    public struct Check: Sendable {
        public var id: String
        public var name: String
        public var summary: String
        /// The server of the check (`listen`, `onDeliver` and the record are the probe's).
        public var server: NetServer
        public var requires: [Policy: [Requirement]]
        public var prefers: [Policy: [Requirement]] = [:]
        /// Placeholders the command must use for the check to apply (n/a otherwise).
        public var needs: [String] = []
        /// The message file's content for this check; nil: `ClientProbe.standardMessage`.
        public var message: [UInt8]?
        /// The check's verdict says nothing until the control delivered (the control itself).
        public var isControl = false
        /// Values this check gives `{rcpt}` and `{from}` instead of the probe's (an injection);
        /// the exit status is then not judged (no recipient is the one the command named).
        public var rcpt: String?
        public var from: String?

        public init(id: String, name: String, summary: String, server: NetServer, requires: [Policy: [Requirement]], prefers: [Policy: [Requirement]] = [:],
                    needs: [String] = [], message: [UInt8]? = nil, isControl: Bool = false, rcpt: String? = nil, from: String? = nil) {
            self.rcpt = rcpt
            self.from = from
            self.id = id
            self.name = name
            self.summary = summary
            self.server = server
            self.requires = requires
            self.prefers = prefers
            self.needs = needs
            self.message = message
            self.isControl = isControl
        }
    }

    /// The command an injection check hides behind CRLF in an address: the server must never
    /// see it.
    public static let injectedMarker = "smtpsim-injected"
    public static let injectedCommand = "NOOP \(injectedMarker)"

    /// The test message every check hands the client, unless the check has its own.
    public static let standardMessage = Array("From: smtpsim probe <probe@smtpsim.test>\r\nTo: <rcpt@smtpsim.test>\r\nSubject: smtpsim probe --client\r\n\r\nA test message from smtpsim probe --client.\r\n".utf8)

    /// The values of the placeholders (`{ca}` and `{message}` are files the probe writes).
    public struct Values: Sendable {
        public var from = "probe@smtpsim.test"
        public var rcpt = "rcpt@smtpsim.test"
        /// A second recipient, the one a check defers (`{rcpt2}`).
        public var rcpt2 = "deferred@smtpsim.test"
        public var user = "alice"
        public var password = "secret"
        /// The factory CA certificate (PEM) every check's certificate chains to, or not.
        public var caPEM = ""
        public init() {}
    }

    public var checks: [Check]
    public var command: [String]
    public var policy: Policy
    public var listen: HostPort
    /// Seconds the client may run per check before it is stopped by its process id.
    public var timeout: Double = 30
    public var values = Values()

    public init(checks: [Check], command: [String], policy: Policy, listen: HostPort) {
        self.checks = checks
        self.command = command
        self.policy = policy
        self.listen = listen
    }

    public struct Result: Codable, Sendable, Equatable {
        public var id: String
        public var check: String
        public var verdict: Probe.Verdict
        public var detail: String
        /// The client's exit status (nil: it was stopped), and whether it told the truth (0 only
        /// when the server accepted the message for every recipient the command named).
        public var exitStatus: Int32?
        public var exitTruthful: Bool?
        public var connections: Int
        /// Messages the server accepted.
        public var delivered: Int
        /// The oracles' findings against the client (`SessionJudge`), one line each.
        public var findings: [String]
        /// What the client's output ended with (stdout and stderr, the last few lines).
        public var output: String
        /// The bytes of every connection, by layer, as `probe` gives them.
        public var bytes: [Probe.Exchange]
    }

    /// The most of a client's output kept per check (its end).
    static let outputKept = 2048
    /// How long the probe waits, once the client exited, for its connections to end.
    static let drainSeconds = 3.0

    /// Runs every check in order; `progress` sees each result as it comes. A control check that
    /// did not deliver makes the rest inconclusive (the command does not deliver at all).
    public func run(progress: (Result) -> Void = { _ in }) async throws(NetError) -> [Result] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-probe-client-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .setup("cannot make a work folder: \(error)")
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        let ca = folder.appendingPathComponent("ca.pem")
        do {
            try Data(values.caPEM.utf8).write(to: ca)
        } catch {
            throw .setup("cannot write the CA file: \(error)")
        }
        var results: [Result] = []
        var controlFailed: String?
        for (k, check) in checks.enumerated() {
            var result: Result
            if let missing = check.needs.first(where: { need in !command.contains { $0.contains(need) } }) {
                result = Result(id: check.id, check: check.name, verdict: .notApplicable, detail: "the command does not use \(missing)", exitStatus: nil, exitTruthful: nil,
                                connections: 0, delivered: 0, findings: [], output: "", bytes: [])
            } else {
                result = try await attempt(check, number: k + 1, folder: folder, ca: ca)
                // A command that does not deliver fails the checks' requirements for that reason
                // alone: only the oracles' findings (what the client wrote) still count.
                if let why = controlFailed, !check.isControl, result.findings.isEmpty {
                    result.verdict = .inconclusive
                    result.detail = "the control did not deliver (\(why)): " + result.detail
                }
            }
            if check.isControl, result.verdict != .pass { controlFailed = result.detail }
            results.append(result)
            progress(result)
        }
        return results
    }

    /// What one check's connections showed, collected from the server's record of each.
    final class Observed: Sendable {
        struct Connection {
            var tracker = TriggerTracker(rules: [], connection: nil)
            /// Client command verbs, with whether they came inside TLS, and the lines themselves.
            var commands: [(verb: String, tls: Bool)] = []
            var lines: [String] = []
            var findings: [Finding] = []
            var log = Probe.ExchangeLog()
            /// Octets kept in `log` so far (`exchangeOctetsKept` at most).
            var logged = 0
            var ended = false

            /// Keeps an exchange as evidence while the bound allows; the rest is judged, not kept.
            mutating func keep(_ direction: Probe.Exchange.Direction, tls: Bool, _ bytes: [UInt8]) {
                guard logged < Observed.exchangeOctetsKept else { return }
                let kept = Array(bytes.prefix(Observed.exchangeOctetsKept - logged))
                logged += kept.count
                log.append(direction, epoch: tls ? 1 : 0, kept)
            }
        }
        struct State {
            var order: [String] = []
            var connections: [String: Connection] = [:]
            var delivered: [AcceptedMessage] = []
        }
        let state = Mutex(State())

        /// Client commands kept per connection (enough for any client's session; the rest are
        /// not needed to judge it).
        static let commandsKept = 256
        /// Octets kept of each command line (RFC 5321 §4.5.3.1.4: 512 in all).
        static let lineKept = 512
        /// Octets of each connection kept as evidence (a client's message can be large).
        static let exchangeOctetsKept = 256 * 1024
        /// Connections judged per check; a client that opens more is judged on the first ones.
        static let connectionsKept = 64

        func record(_ id: String, _ event: WireEvent) {
            state.withLock { s in
                if s.connections[id] == nil {
                    guard s.order.count < Self.connectionsKept else { return }
                    s.order.append(id)
                    s.connections[id] = Connection()
                }
                switch event {
                case .received(let bytes, let tls):
                    s.connections[id]!.keep(.received, tls: tls, bytes)
                    guard let step = s.connections[id]!.tracker.advance(past: bytes, by: .client) else { return }
                    for line in step.commands where s.connections[id]!.commands.count < Self.commandsKept {
                        let verb = String(decoding: line.prefix { $0 != 0x20 && $0 != 0x0D }, as: UTF8.self).uppercased()
                        s.connections[id]!.commands.append((verb, tls))
                        s.connections[id]!.lines.append(String(decoding: line.prefix(Self.lineKept), as: UTF8.self))
                    }
                case .sent(let bytes, let tls):
                    s.connections[id]!.keep(.sent, tls: tls, bytes)
                    s.connections[id]!.tracker.advance(past: bytes, by: .server)
                case .finding(let finding):
                    s.connections[id]!.findings.append(finding)
                case .note(let text) where text.hasPrefix("session ended"):
                    s.connections[id]!.ended = true
                case .note, .tls, .fault:
                    break
                }
            }
        }

        func deliver(_ message: AcceptedMessage) { state.withLock { $0.delivered.append(message) } }

        var allEnded: Bool { state.withLock { s in s.order.allSatisfy { s.connections[$0]?.ended == true } } }
    }

    private func attempt(_ check: Check, number: Int, folder: URL, ca: URL) async throws(NetError) -> Result {
        let observed = Observed()
        var server = check.server
        server.listen = listen
        server.onDeliver = { observed.deliver($0) }
        server.clientDemandsVerifiedTLS = policy == .required
        let (ports, portStream) = AsyncStream<Int>.makeStream()
        let failure = Mutex<String?>(nil)
        let serving = Task { [server] in
            do {
                try await server.run(ready: { portStream.yield($0) }, log: { observed.record($0, $1) })
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            portStream.finish()
        }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw .setup("check \(check.name): cannot listen on \(listen): \(failure.withLock { $0 } ?? "no port")") }

        let message = folder.appendingPathComponent("message-\(number).eml")
        do {
            try Data(check.message ?? Self.standardMessage).write(to: message)
        } catch {
            throw .setup("cannot write the message file: \(error)")
        }
        let substitutions = [
            "{host}": listen.host, "{port}": String(port), "{ca}": ca.path, "{from}": check.from ?? values.from, "{rcpt}": check.rcpt ?? values.rcpt, "{rcpt2}": values.rcpt2,
            "{user}": values.user, "{password}": values.password, "{message}": message.path,
        ]
        let arguments = command.map { argument in substitutions.reduce(argument) { $0.replacingOccurrences(of: $1.key, with: $1.value) } }
        let run = try await ClientProcess.run(arguments, in: folder, timeout: timeout, outputKept: Self.outputKept)
        // The client is gone: its connections end at once; wait a little for the server's side.
        let drainUntil = ContinuousClock.now + .milliseconds(Int64(Self.drainSeconds * 1000))
        while !observed.allEnded, ContinuousClock.now < drainUntil { try? await Task.sleep(for: .milliseconds(20)) }
        return judge(check, observed, run)
    }

    /// The verdict of one check.
    func judge(_ check: Check, _ observed: Observed, _ run: ClientProcess.Outcome) -> Result {
        let state = observed.state.withLock { $0 }
        let connections = state.order.compactMap { state.connections[$0] }
        let named = [values.rcpt, values.rcpt2].filter { r in command.contains { $0.contains(r == values.rcpt ? "{rcpt}" : "{rcpt2}") } }
        let accepted = Set(state.delivered.flatMap { $0.recipients.map { Self.address($0) } })
        // A command that names its recipients itself is judged by whether a message was accepted.
        let everyRecipientAccepted = named.isEmpty ? !state.delivered.isEmpty : named.allSatisfy { accepted.contains($0.lowercased()) }
        var failures: [String] = []
        var warnings: [String] = []
        // The control's own requirement unmet says the command does not deliver, not that the
        // client is wrong: inconclusive (the oracles' findings still fail it).
        var controlUnmet: [String] = []

        for (requirement, into) in (check.requires[policy] ?? []).map({ ($0, true) }) + (check.prefers[policy] ?? []).map({ ($0, false) }) {
            guard let broken = broken(requirement, connections, state.delivered, check) else { continue }
            if check.isControl { controlUnmet.append(broken) } else if into { failures.append(broken) } else { warnings.append(broken) }
        }
        let findings = connections.flatMap(\.findings).filter { $0.side == .client }
        failures += findings.map { "\($0.summary)" }

        var truthful: Bool?
        if let status = run.status, check.rcpt == nil, check.from == nil {
            truthful = (status == 0) == everyRecipientAccepted
            // A failure status for a message that arrived may be the client reporting what it
            // found wrong with the server (smtpsim send's status 1): kept in the result, no verdict.
            if status == 0, !everyRecipientAccepted {
                failures.append("exit status 0, but the server accepted \(accepted.isEmpty ? "no message" : "the message only for \(accepted.sorted().joined(separator: ", "))")")
            }
        }
        let verdict: Probe.Verdict
        var detail: String
        if run.status == nil {
            verdict = failures.isEmpty ? .inconclusive : .fail
            detail = "the client did not exit within \(timeout.formatted1) s (stopped by its process id)"
            if !failures.isEmpty { detail += "; " + failures.joined(separator: "; ") }
        } else if !failures.isEmpty {
            verdict = .fail
            detail = failures.joined(separator: "; ")
        } else if !controlUnmet.isEmpty {
            verdict = .inconclusive
            detail = "the control: " + controlUnmet.joined(separator: "; ") + " (exit status \(run.status ?? -1)): check the command and its placeholders"
        } else if connections.isEmpty, check.rcpt != nil || check.from != nil, let status = run.status, status != 0 {
            verdict = .pass
            detail = "refused the address before connecting (exit status \(status))"
        } else if connections.isEmpty {
            verdict = .inconclusive
            detail = "the client made no connection (exit status \(run.status ?? -1))"
        } else if !warnings.isEmpty {
            verdict = .warn
            detail = warnings.joined(separator: "; ")
        } else {
            verdict = .pass
            detail = Self.describe(connections, state.delivered, status: run.status)
        }
        var bytes: [Probe.Exchange] = []
        for (k, c) in connections.enumerated() {
            bytes += k == 0 ? c.log.exchanges : c.log.exchanges.map { var e = $0; e.layer = "C\(k + 1)-" + e.layer; return e }
        }
        return Result(id: check.id, check: check.name, verdict: verdict, detail: detail, exitStatus: run.status, exitTruthful: truthful,
                      connections: connections.count, delivered: state.delivered.count, findings: findings.map(\.summary), output: run.output, bytes: bytes)
    }

    /// How `requirement` was broken, or nil when it held.
    private func broken(_ requirement: Requirement, _ connections: [Observed.Connection], _ delivered: [AcceptedMessage], _ check: Check) -> String? {
        switch requirement {
        case .delivers:
            return delivered.isEmpty ? "no message reached the server" : nil
        case .deliversOverTLS:
            if delivered.isEmpty { return "no message reached the server" }
            return delivered.allSatisfy(\.overTLS) ? nil : "the message reached the server in plaintext"
        case .unchangedMessage:
            // Blank lines a client adds at the end (swaks ends the data with one) change nothing
            // this check is about.
            // The body is what must arrive whole: clients rewrite headers (git send-email) or
            // write their own around it (PHPMailer, s-nail).
            let expected = Self.body(of: Self.trimmingBlankEnd(Self.crlf(check.message ?? Self.standardMessage)))
            for message in delivered where !Octets.contains(message.body, expected) {
                // Where it differs: after the longest start of the text found in the message.
                var longest = 0, at = 0
                for length in stride(from: expected.count - 1, through: 1, by: -1) {
                    if let found = Octets.end(of: Array(expected.prefix(length)), in: message.body) {
                        longest = length
                        at = found
                        break
                    }
                }
                let sent = BytePreview.text(Array(message.body[at...].prefix(24)), epoch: 0, limit: 40)
                let written = BytePreview.text(Array(expected[longest...].prefix(24)), epoch: 0, limit: 40)
                return "the message arrived changed after \(longest) octets of its body: \(sent) where the message file has \(written) (line ends made CRLF; RFC 5321 §4.5.2 dot-stuffing, §2.3.8 no bare LF)"
            }
            return nil
        case .onlyItsOwnCommands:
            for (k, c) in connections.enumerated() {
                if let line = c.lines.first(where: { $0.contains(Self.injectedMarker) }) {
                    return "sent \(line.debugDescription) (connection \(k + 1)), a command the user never asked for: the address's CRLF went on the wire as it was"
                }
            }
            return nil
        case .inStepInsideTLS:
            guard delivered.isEmpty, let k = connections.firstIndex(where: { $0.commands.contains { $0.tls && $0.verb == "MAIL" } }) else { return nil }
            let sent = connections[k].commands.filter(\.tls).map(\.verb).joined(separator: " ")
            return "started a transaction inside TLS (connection \(k + 1): \(sent)) and never completed it: out of step with the server's replies"
        case .capabilitiesFromAfterTLS:
            let offersAfter = check.server.configuration.extensionsAfterTLS.contains(.chunking)
            guard !offersAfter, let bdat = connections.enumerated().first(where: { $0.element.commands.contains { $0.tls && $0.verb == "BDAT" } }) else { return nil }
            return "used BDAT inside TLS (connection \(bdat.offset + 1)), which only the EHLO reply before TLS offered"
        }
    }

    /// The message with every line end CRLF and a CRLF at its end (what a correct client sends).
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var previous: UInt8 = 0
        for b in bytes {
            if b == 0x0A, previous != 0x0D { out.append(0x0D) }
            out.append(b)
            previous = b
        }
        if !out.suffix(2).elementsEqual([0x0D, 0x0A]) { out += [0x0D, 0x0A] }
        return out
    }

    /// What follows the header section (the first empty line), or all of it without one.
    static func body(of message: [UInt8]) -> [UInt8] {
        guard let end = Octets.end(of: [0x0D, 0x0A, 0x0D, 0x0A], in: message) else { return message }
        return Array(message[end...])
    }

    /// The message without the CRLFs at its end (one is kept).
    static func trimmingBlankEnd(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.count
        while end >= 4, bytes[end - 4] == 0x0D, bytes[end - 3] == 0x0A, bytes[end - 2] == 0x0D, bytes[end - 1] == 0x0A { end -= 2 }
        return Array(bytes[..<end])
    }

    static func address(_ path: ForwardPath) -> String {
        String(path.description.drop { $0 == "<" }.prefix { $0 != ">" }).lowercased()
    }

    static func describe(_ connections: [Observed.Connection], _ delivered: [AcceptedMessage], status: Int32?) -> String {
        let tls = connections.filter { $0.commands.contains { $0.tls } }.count
        let what = delivered.isEmpty ? "no message delivered" : "\(delivered.count) message\(delivered.count == 1 ? "" : "s") delivered \(delivered.allSatisfy(\.overTLS) ? "inside TLS" : "in plaintext")"
        return "\(connections.count) connection\(connections.count == 1 ? "" : "s") (\(tls) with TLS), \(what), exit status \(status ?? -1)"
    }
}

/// A client process run once: started, waited for within a timeout, stopped by its process id
/// when it does not end (SIGTERM, then SIGKILL), its output's end kept.
enum ClientProcess {
    struct Outcome: Sendable {
        /// nil: stopped at the timeout.
        var status: Int32?
        var output: String
    }

    /// Seconds between SIGTERM and SIGKILL for a client that outlives its timeout.
    static let graceSeconds = 2.0

    /// Runs `arguments` in `folder` (the probe's work folder: whatever the client writes there
    /// goes with it).
    static func run(_ arguments: [String], in folder: URL, timeout: Double, outputKept: Int) async throws(NetError) -> Outcome {
        guard let executable = arguments.first else { throw .setup("no command to run") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = folder
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("smtpsim-client-\(UInt32.random(in: 0...UInt32.max)).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle: FileHandle
        do {
            handle = try FileHandle(forWritingTo: output)
        } catch {
            throw .setup("cannot capture the client's output: \(error)")
        }
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let (ended, continuation) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw .setup("cannot run \(executable): \(error)")
        }
        let pid = process.processIdentifier
        // Foundation starts the client as the leader of a process group of its own: stopping the
        // group stops whatever the client started too (a wrapper script's children).
        let grouped = getpgid(pid) == pid
        let timedOut = Atomic<Bool>(false)
        let stopper = Task {
            try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            timedOut.store(true, ordering: .sequentiallyConsistent)
            kill(grouped ? -pid : pid, SIGTERM)
            try await Task.sleep(for: .milliseconds(Int64(graceSeconds * 1000)))
            kill(grouped ? -pid : pid, SIGKILL)
        }
        for await _ in ended {}
        stopper.cancel()
        let data = (try? Data(contentsOf: output)) ?? Data()
        let text = String(decoding: data.suffix(outputKept), as: UTF8.self)
        return Outcome(status: timedOut.load(ordering: .sequentiallyConsistent) ? nil : process.terminationStatus, output: text)
    }
}

