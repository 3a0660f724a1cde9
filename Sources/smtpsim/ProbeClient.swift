import ArgumentParser
import EndpointHosting
import Foundation
import SMTPNet
import SMTPTLS

extension ClientProbe.Policy: ExpressibleByArgument {}

/// `smtpsim probe --client --policy P -- COMMAND …`: a real mail client judged check by check
/// (`ClientProbe`, the checks in `ClientChecks`).
extension ProbeCommand {
    func runClient() async throws {
        guard let policy else { throw ValidationError("--client needs --policy") }
        let address = try NetCLI.address(listen ?? "127.0.0.1:0")
        let factory = try CertificateFactory(seed: 1, epoch: NetCLI.today())
        let only = Set((only ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        let known = Set(ClientChecks.entries.flatMap { [$0.id, $0.name] })
        if let unknown = only.first(where: { !known.contains($0) }) {
            throw ValidationError("--only \(unknown): no such check; the checks are \(ClientChecks.entries.map(\.name).joined(separator: ", "))")
        }
        var probe = ClientProbe(checks: try ClientChecks.checks(listen: address, factory: factory, only: only, implicitTLS: implicitTLS), command: command, policy: policy, listen: address)
        probe.timeout = timeout ?? 30
        probe.values.caPEM = factory.root.pem
        if let rcpt { probe.values.rcpt = rcpt }
        probe.values.from = from
        let format = format
        let results: [ClientProbe.Result]
        do {
            results = try await probe.run { r in
                if format == .text { NetCLI.say(Self.row(r)) }
            }
        } catch {
            throw NetCLI.fail(error)
        }
        switch format {
        case .text:
            let counts = Dictionary(grouping: results, by: \.verdict).mapValues(\.count)
            NetCLI.say("\(results.count) checks (policy \(policy.rawValue)\(implicitTLS ? ", implicit TLS" : "")): \(counts[.pass] ?? 0) pass, \(counts[.fail] ?? 0) fail, \(counts[.warn] ?? 0) warn, \(counts[.notApplicable] ?? 0) n/a, \(counts[.inconclusive] ?? 0) inconclusive")
        case .json:
            try Self.printJSON(ClientDocument(command: command, policy: policy, results: results))
        case .junit:
            NetCLI.say(Self.junit(results, policy: policy))
        case .html:
            NetCLI.say(ClientReport.html(ClientDocument(command: command, policy: policy, results: results)))
        }
        if results.contains(where: { $0.verdict == .fail }) { throw ExitCode(ExitStatus.finding.rawValue) }
    }

    struct ClientDocument: Codable {
        var command: [String]
        var policy: ClientProbe.Policy
        var results: [ClientProbe.Result]
    }

    static func row(_ r: ClientProbe.Result) -> String {
        let exit = r.exitStatus.map { "exit \($0)" } ?? (r.verdict == .notApplicable ? "" : "stopped")
        return "\(r.id.padding(toLength: 3, withPad: " ", startingAt: 0)) \(r.check.padding(toLength: 36, withPad: " ", startingAt: 0)) \(r.verdict.rawValue.uppercased().padding(toLength: 13, withPad: " ", startingAt: 0)) \(exit.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.detail)"
    }

    /// One test case per check: a failure for fail, skipped for n/a and inconclusive, the
    /// client's output and the findings in `system-out`.
    static func junit(_ results: [ClientProbe.Result], policy: ClientProbe.Policy) -> String {
        let esc = Run.esc
        let failures = results.filter { $0.verdict == .fail }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuite name=\"smtpsim probe --client (policy \(policy.rawValue))\" tests=\"\(results.count)\" failures=\"\(failures)\" skipped=\"\(results.filter { [.notApplicable, .inconclusive].contains($0.verdict) }.count)\">\n"
        for r in results {
            out += "  <testcase classname=\"\(esc(r.id))\" name=\"\(esc(r.check))\">\n"
            switch r.verdict {
            case .fail: out += "    <failure message=\"\(esc(r.detail))\">\(esc(r.detail))</failure>\n"
            case .notApplicable, .inconclusive: out += "    <skipped message=\"\(r.verdict.rawValue): \(esc(r.detail))\"/>\n"
            case .pass, .warn: break
            }
            let exit = r.exitStatus.map { "exit status \($0)" } ?? "stopped by its process id"
            out += "    <system-out>\(esc("\(r.verdict.rawValue): \(r.detail)\n\(exit)\n" + r.findings.map { "finding: \($0)\n" }.joined() + r.output))</system-out>\n"
            out += "  </testcase>\n"
        }
        return out + "</testsuite>"
    }
}
