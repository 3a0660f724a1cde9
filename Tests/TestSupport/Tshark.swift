import Foundation

/// tshark on a pcap with its key log: the SMTP command verbs it dissects, decrypted where the
/// key log allows (the pcap tests of a simulated run and of a real session's record). nil when
/// tshark is not installed (`.ci/run` installs it).
public enum Tshark {
    public static func smtpCommands(pcap: String, keylog: String) throws -> [String]? {
        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tshark)
        process.arguments = ["-r", pcap, "-o", "tls.keylog_file:" + keylog, "-Y", "smtp", "-T", "fields", "-e", "smtp.req.command"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return [] }
        return text.split(separator: "\n").map(String.init)
    }
}
