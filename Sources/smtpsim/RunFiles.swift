import EndpointHosting
import ArgumentParser
import Foundation
import SMTPClient
import Simulation

/// The files a run can leave (`--pcap`, `--keylog`, `--html`), written one way for `simulate`,
/// `run` and `replay`.
struct RunFiles {
    var pcap: String?
    var keylog: String?

    /// The pcap of the `index`th of `count` runs: the path itself for one run, `NAME-i.pcap`
    /// for several.
    func pcapPath(index: Int, of count: Int) -> String? {
        guard let pcap else { return nil }
        return count == 1 ? pcap : (pcap as NSString).deletingPathExtension + "-\(index + 1).pcap"
    }

    /// Writes run `index` of `count`: its pcap, and its key-log lines (the first run creates
    /// the key log, later ones append, so one file decrypts every pcap). Returns what it wrote.
    @discardableResult
    func write(_ result: RunResult, epoch: Int64, index: Int = 0, of count: Int = 1) throws -> [String] {
        var written: [String] = []
        if let path = pcapPath(index: index, of: count) {
            try Data(PcapWriter(epoch: epoch).pcap(result.trace)).write(to: URL(fileURLWithPath: path))
            written.append(path)
        }
        if let keylog {
            let lines = Data((result.keyLogLines.joined(separator: "\n") + "\n").utf8)
            if index > 0, let handle = FileHandle(forWritingAtPath: keylog) {
                defer { try? handle.close() }
                try handle.seekToEnd()
                try handle.write(contentsOf: lines)
            } else {
                try lines.write(to: URL(fileURLWithPath: keylog))
                written.append(keylog)
            }
        }
        return written
    }

    /// A text file such as the HTML report.
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}

/// Exit statuses, one map for every command (README "Exit codes").
enum ExitStatus: Int32 {
    /// Every message delivered (or every scenario and check passed), no finding.
    case success = 0
    /// An oracle found something, an expectation failed, a probe check failed.
    case finding = 1
    /// A bad file or argument.
    case badInput = 2
    /// Some message deferred, or the peer could not be reached.
    case deferred = 3
    /// Some message refused for good.
    case refused = 4

    /// The status of a delivery: findings first, then the worst outcome.
    init(findings: Bool, outcomes: [MessageOutcome]) {
        if findings {
            self = .finding
        } else if outcomes.contains(where: { $0.status == .permanentFailure }) {
            self = .refused
        } else if outcomes.contains(where: { $0.status == .temporaryFailure }) {
            self = .deferred
        } else {
            self = .success
        }
    }

    init(_ result: RunResult) { self.init(findings: !result.findings.isEmpty, outcomes: result.outcomes) }

    /// Throws the status as ArgumentParser's exit unless it is success.
    func exitIfFailed() throws {
        if self != .success { throw ExitCode(rawValue) }
    }
}
