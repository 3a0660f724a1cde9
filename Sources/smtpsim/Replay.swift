import ArgumentParser
import Foundation
import Scenario
import Simulation

/// `smtpsim replay`: reruns exactly one run — a scenario file at a seed, with the swarm faults that
/// seed picks — and shows its whole trace.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rerun one run of a scenario (file and seed) and print its trace.")

    @Argument(help: "The scenario file.") var file: String
    @Option(help: "The seed of the run.") var seed: UInt64
    @Option(help: "Write the run as a pcap file.") var pcap: String?
    @Option(help: "Write the NSS key log.") var keylog: String?
    @Option(help: "TLS profile instead of the file's, as `sweep --tls` ran it: full, cheap or cheap-tls12.") var tls: TLSProfileName?

    func run() throws {
        var scenario: Scenario
        do {
            scenario = try ScenarioLoader.load(path: file)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        scenario.configuration.keyLog = keylog != nil
        if let tls { scenario.configuration.tls = tls.profile }
        let report = try ScenarioRunner.run(scenario, seed: seed, trace: .always)
        print(report.result.trace.text)
        print(Run.text(report, trace: false))
        print("faults: \(scenario.configuration(seed: seed).faults.map(\.description).joined(separator: "; "))")
        print("trace sha256: \(report.result.digest ?? "")")
        try RunFiles(pcap: pcap, keylog: keylog).write(report.result, epoch: scenario.configuration.epoch)
        if !report.passed { throw ExitCode(ExitStatus.finding.rawValue) }
    }
}
