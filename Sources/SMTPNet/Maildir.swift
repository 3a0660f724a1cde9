import EndpointHosting
import Foundation
import SMTPCore
import SMTPServer

/// Where `smtpsim serve` keeps what it accepted: one `.eml` per message (the body exactly as
/// received, dot-unstuffed) with a JSON envelope beside it of the same name.
public final class MaildirWriter: @unchecked Sendable {
    public let directory: URL
    private let lock = NSLock()
    private var counter = 0
    private let stamp: String

    /// The JSON written next to each message.
    public struct Envelope: Codable, Hashable, Sendable {
        public var queueID: String
        public var mailFrom: String
        public var rcptTo: [String]
        public var helo: String?
        public var overTLS: Bool
        public var tls: String?
        public var authenticatedAs: String?
        public var viaBDAT: Bool
        public var size: Int
        public var peer: String
        public var receivedAt: String
        /// Smuggling sequences and bare line endings the DATA decoder saw, then what the client
        /// did on the connection before the message that the oracles judge wrong
        /// (`label: explanation [reference]`, `SessionJudge`).
        public var findings: [String]

        enum CodingKeys: String, CodingKey {
            case queueID = "queue_id", mailFrom = "mail_from", rcptTo = "rcpt_to", helo, overTLS = "over_tls", tls
            case authenticatedAs = "authenticated_as", viaBDAT = "via_bdat", size, peer, receivedAt = "received_at", findings
        }
    }

    public init(directory: String) throws(NetError) {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        } catch {
            throw .setup("cannot create maildir \(directory): \(error.localizedDescription)")
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss"
        stamp = f.string(from: Date()) + "-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Writes one message; returns the `.eml` path.
    @discardableResult
    public func write(_ message: AcceptedMessage, peer: String, tls: String?, sessionFindings: [Finding] = []) throws -> String {
        let n = lock.withLock {
            counter += 1
            return counter
        }
        let base = "\(stamp)-\(String(format: "%04d", n))-\(message.queueID)"
        let eml = directory.appendingPathComponent(base + ".eml")
        let json = directory.appendingPathComponent(base + ".json")
        var findings = message.findings.variants.map(\.rawValue)
        if message.findings.bareCR > 0 { findings.append("bare-cr") }
        if message.findings.bareLF > 0 { findings.append("bare-lf") }
        findings += sessionFindings.map(\.summary)
        let envelope = Envelope(
            queueID: message.queueID, mailFrom: "\(message.reversePath)", rcptTo: message.recipients.map { "\($0)" },
            helo: message.heloName, overTLS: message.overTLS, tls: tls, authenticatedAs: message.authenticatedAs,
            viaBDAT: message.viaBDAT, size: message.body.count, peer: peer,
            receivedAt: ISO8601DateFormatter().string(from: Date()), findings: findings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Data(message.body).write(to: eml, options: .atomic)
        try encoder.encode(envelope).write(to: json, options: .atomic)
        return eml.path
    }
}
