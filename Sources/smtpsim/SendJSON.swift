import Foundation
import SMTPClient
import SMTPCore
import SMTPNet
import SMTPTLS

/// `smtpsim send --format json`: the whole delivery as one document.
struct SendJSON: Encodable {
    typealias Entry = SessionRecord.Entry

    struct TLS: Encodable {
        var version: String
        var cipherSuite: String
        var group: String?
        var peerVerified: Bool
        var verifyResult: String
        /// The failure class of a certificate that did not verify (`pinned-certificate-mismatch`, …).
        var verificationFailure: String?
        var certificate: Leaf?
    }

    struct Leaf: Encodable {
        var subject: String
        var issuer: String
        var subjectAlternativeNames: [String]
        var sha256: String
    }

    struct Outcome: Encodable {
        var message: String
        var status: String
        var reason: String
        var overTLS: Bool
        var reply: String?
        var tlsResultType: String?
        var refusedRecipients: [String]
        var possibleDuplicate: Bool
        var recipients: [Recipient]
    }

    /// One recipient's outcome (RFC 5321 §4.2.5: a 4yz to its RCPT leaves it undelivered).
    struct Recipient: Encodable {
        var recipient: String
        var status: String
        var reply: String?
    }

    var server: String
    var dialogue: [Entry]
    var capabilitiesBeforeTLS: [String]?
    var capabilities: [String]
    var tls: TLS?
    var outcomes: [Outcome]
    var end: String
    var attempts: Int
    /// What the server did that the oracles judge wrong (`label: explanation [reference]`).
    var findings: [String]

    init(server: String, report: NetClient.Report, dialogue: [Entry]) {
        self.server = server
        self.dialogue = dialogue
        capabilitiesBeforeTLS = report.capabilitiesBeforeTLS.map { $0.extensions.map(\.description) }
        capabilities = report.capabilities.extensions.map(\.description)
        tls = report.tls.map { t in
            TLS(version: t.version, cipherSuite: t.cipherSuite, group: t.group, peerVerified: t.peerVerified, verifyResult: t.verifyResultText,
                verificationFailure: t.verificationFailure?.rawValue,
                certificate: t.peerCertificates.first.map { Leaf(subject: $0.subject, issuer: $0.issuer, subjectAlternativeNames: $0.subjectAlternativeNames, sha256: $0.sha256Fingerprint) })
        }
        outcomes = report.outcomes.map { o in
            Outcome(message: o.messageID, status: o.status.rawValue, reason: o.reason, overTLS: o.overTLS, reply: o.reply?.description,
                    tlsResultType: o.tlsResultType?.rawValue, refusedRecipients: o.refusedRecipients.map(\.description), possibleDuplicate: o.possibleDuplicate,
                    recipients: o.recipients.map { Recipient(recipient: $0.recipient.description, status: $0.statusName, reply: $0.reply?.description) })
        }
        end = "\(report.end)"
        attempts = report.attempts
        findings = report.findings.map(\.summary)
    }

    var text: String {
        get throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        }
    }
}
