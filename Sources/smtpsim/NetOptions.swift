import EndpointHosting
import ArgumentParser
import Foundation
import SMTPClient
import SMTPCore
import SMTPNet
import SMTPServer
import SMTPTLS
import Scenario
import Simulation

/// Options shared by the real-socket commands (`serve`, `send`, `proxy`, `probe`).
struct StreamFaultOptions: ParsableArguments {
    @Option(help: "Write in segments of at most this many octets (1: one byte each).") var split: Int?
    @Option(help: "Wait this many milliseconds before each segment.") var delayMs: Int?
    @Option(help: "Reset the connection (TCP RST) at a phase: \(listed(ProtocolPhase.self)).")
    var resetAt: ProtocolPhase?
    @Option(help: "Stall writes at a phase, PHASE:MILLISECONDS.") var stallAt: String?
    @Option(help: ArgumentHelp("A fault as a scenario file writes it, e.g. '{tls-close-notify: {from: server, at: mid-body, then-plaintext: \"NOOP\\r\\n\"}}' (repeatable; `smtpsim faults` lists them).", valueName: "yaml"))
    var fault: [String] = []

    func faults(adding rules: [FaultRule] = [], side: Side) throws -> StreamFaults {
        let rules = try self.rules(adding: rules, side: side)
        return try StreamFaults(rules: rules, side: side)  // validated by rules(adding:side:)
    }

    /// The command line's faults after `rules`, each checked to be one a real socket can do.
    func rules(adding rules: [FaultRule], side: Side) throws -> [FaultRule] {
        var rules = rules
        for text in fault {
            do {
                rules.append(try ScenarioLoader.parseFault(text))
            } catch {
                throw ValidationError("--fault \(text): \(error.message)")
            }
        }
        if let split {
            guard split > 0 else { throw ValidationError("--split must be at least 1") }
            rules.append(FaultRule(.split(maxSegment: split)))
        }
        if let delayMs { rules.append(FaultRule(.latency(min: Int64(delayMs) * 1_000_000, max: Int64(delayMs) * 1_000_000))) }
        if let resetAt { rules.append(FaultRule(.reset, at: .phase(resetAt))) }
        if let stallAt {
            let parts = stallAt.split(separator: ":").map(String.init)
            guard parts.count == 2, let ms = Int64(parts[1]) else { throw ValidationError("--stall-at takes PHASE:MILLISECONDS") }
            rules.append(FaultRule(.stall(duration: ms * 1_000_000), at: .phase(try Self.phase(parts[0]))))
        }
        do {
            _ = try StreamFaults(rules: rules, side: side)
        } catch {
            throw ValidationError(error.description)
        }
        return rules
    }

    static func phase(_ name: String) throws -> ProtocolPhase {
        guard let p = ProtocolPhase(rawValue: name) else {
            throw ValidationError("unknown phase '\(name)'; phases: \(listed(ProtocolPhase.self))")
        }
        return p
    }
}

enum NetCLI {
    /// Exit status when the peer cannot be reached (as `run` for a deferred message).

    static func address(_ text: String, defaultPort: Int? = nil) throws -> HostPort {
        do {
            return try HostPort(parsing: text, defaultPort: defaultPort)
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func credentials(_ text: String) throws -> (String, String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("--auth takes user:password") }
        return (parts[0], parts[1])
    }

    static func read(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// `--record DIR` of `serve` and `send`: the directory, made if missing.
    static func recordDirectory(_ path: String?) throws -> URL? {
        guard let path else { return nil }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create \(path): \(error.localizedDescription)")
        }
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    /// Prints a line and flushes, so a supervising process (a test, a pipe) sees it at once.
    static func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    /// Prints a one-line network error and exits as deferred (the peer could not be reached).
    static func fail(_ error: NetError) -> ExitCode {
        FileHandle.standardError.write(Data("smtpsim: \(error)\n".utf8))
        return ExitCode(ExitStatus.deferred.rawValue)
    }

    static func today() -> Int64 {
        let now = Int64(Date().timeIntervalSince1970)
        return now - now % 86_400
    }
}
