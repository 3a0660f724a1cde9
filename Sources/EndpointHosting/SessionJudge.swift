import SMTPCore

/// The rules that judge one side of a connection by what it wrote, seen from either end: in the
/// simulator both sides' writes are fed to a judge of each side; on a real socket smtpsim plays
/// one side and its judge of the peer is fed the peer's octets as smtpsim read them and
/// smtpsim's own writes (docs/design.md "Oracles"). Sans-IO, and it owns its state: the driver
/// hands it each write and takes back the findings it returns.
///
/// The rules (docs/catalog.md B1, B4, C1, H6): no credentials in the clear (or to an unverified TLS
/// peer); no envelope in the clear under a policy that requires verified TLS; no plaintext
/// password mechanism offered before TLS; and no SMTP session carried on in the clear after the
/// server agreed to STARTTLS (RFC 3207 §4.1: a client that cannot start TLS after the 220
/// SHOULD abort the connection; going on sends the envelope in plaintext on a connection the
/// client itself asked to protect, which is what a STARTTLS-stripping attacker needs).
public struct SessionJudge: Sendable {
    /// The side judged.
    public let judged: Side
    /// The judged client was configured to require verified TLS (nil: unknown, as for a real
    /// client whose configuration smtpsim cannot see).
    public var demandsVerifiedTLS: Bool
    /// The server's certificate does not verify for the judged client (`probe --client` serves a
    /// bad one on purpose): inside TLS the client writes to an unverified peer.
    public var servedCertificateUnverified = false
    /// The judged client was configured for implicit TLS (RFC 8314 §3): it must never write
    /// SMTP in the clear, whatever the server says there.
    public var implicitTLS = false
    /// A plaintext octet was seen before TLS (without one the connection is implicit TLS, where
    /// the server speaks first inside TLS and no boundary exists).
    private var plaintextBeforeTLS = false
    /// The implicit-TLS client's write in the clear was reported (once per connection).
    private var clearUnderImplicitSaid = false
    /// The first octets of the server's answer to the client's STARTTLS, as the client read
    /// them (nil: no STARTTLS waits for its answer).
    private var startTLSReply: [UInt8]?
    /// Who wrote inside TLS so far, and the client's command lines there before the server wrote.
    private var serverWroteInTLS = false, clientWroteInTLS = false
    private var clientCommandsInTLS = 0
    /// The server answered the client's STARTTLS with 220 (RFC 3207 §4: "Ready to start TLS").
    private var startTLSAgreed = false
    /// The session went on in the clear after that 220 (said once per connection).
    private var clearAfterAgreementSaid = false

    /// One broken rule: the oracle, the side at fault, why (without the connection's name),
    /// and the RFC or catalogue case.
    public struct Verdict: Hashable, Sendable {
        public var oracle: Oracle
        public var side: Side
        public var explanation: String
        public var reference: String

        /// The finding, at the event that shows it.
        public func finding(at eventIndex: Int) -> Finding {
            Finding(oracle: oracle, side: side, eventIndex: eventIndex, explanation: explanation, reference: reference)
        }
    }

    /// How the writer's end of the connection stood when it wrote.
    public struct WriterState: Sendable {
        /// 0 in the clear before STARTTLS, 1 inside TLS, 2 in the clear after TLS ended.
        public var epoch: Int
        /// Inside a TLS session whose peer certificate did not verify.
        public var unverifiedTLS: Bool
        public init(epoch: Int, unverifiedTLS: Bool = false) {
            self.epoch = epoch
            self.unverifiedTLS = unverifiedTLS
        }
    }

    /// Findings kept per connection: every occurrence up to this (a peer that breaks a rule on
    /// every write of a long session stays a bounded report).
    public static let findingsPerConnection = 32

    public init(judged: Side, demandsVerifiedTLS: Bool = false) {
        self.judged = judged
        self.demandsVerifiedTLS = demandsVerifiedTLS
    }

    /// Octets the client read (`epoch`: its end's), for the server's answer to its STARTTLS: on a
    /// real socket, what smtpsim's server wrote; in the simulator, what reached the client after
    /// the links and the attacker (a 220 an attacker turned into a 454 is no agreement).
    public mutating func clientRead(_ bytes: [UInt8], epoch: Int) {
        guard startTLSReply != nil else { return }
        guard epoch == 0 else { return startTLSReply = nil }
        startTLSReply! += bytes.prefix(3 - startTLSReply!.count)
        guard startTLSReply!.count == 3 else { return }
        if startTLSReply! == Self.code220 { startTLSAgreed = true }
        startTLSReply = nil
    }

    /// The TLS boundary seen from one end of a real connection (RFC 3207 §4.2; docs/catalog.md
    /// D1–D3), for a write by either side inside TLS (`commands`: the command lines of a client
    /// write). Inside TLS the server speaks only when spoken to, and the client sends one command
    /// (its EHLO) before it hears anything there; from one end that is sound but partial: a
    /// server reply inside TLS that comes before the client wrote anything inside TLS answers
    /// bytes from before the handshake (CVE-2011-0411), and a second client command that
    /// arrives before the server wrote anything inside TLS was sent before any reply could be
    /// read (the client acted on a reply injected before the handshake). A 421 is excused: a
    /// server may close an idle session unprompted. The simulator, which sees both hosts, judges
    /// the boundary with each host's own count (`EndpointHost.writeBreaksTLSBoundary`).
    public mutating func boundary(_ bytes: [UInt8], by side: Side, epoch: Int, commands: Int) -> Verdict? {
        if epoch == 0, !bytes.isEmpty { plaintextBeforeTLS = true }
        guard epoch == 1, !bytes.isEmpty, plaintextBeforeTLS else { return nil }
        switch side {
        case .server:
            defer { serverWroteInTLS = true }
            guard judged == .server, !serverWroteInTLS, !clientWroteInTLS, !bytes.starts(with: Self.code421) else { return nil }
            return Verdict(oracle: .tlsBoundary, side: .server,
                           explanation: "the server wrote \(BytePreview.text(Array(bytes.prefix(40)))) inside TLS before the client sent anything inside TLS: it acted on bytes that arrived before the handshake",
                           reference: "RFC 3207 §4.2; CVE-2011-0411")
        case .client:
            clientWroteInTLS = true
            guard !serverWroteInTLS else { return nil }
            let before = clientCommandsInTLS
            clientCommandsInTLS += commands
            guard judged == .client, before < 2, clientCommandsInTLS >= 2 else { return nil }
            return Verdict(oracle: .tlsBoundary, side: .client,
                           explanation: "the client sent a second command inside TLS before the server wrote anything there, so before it could read a reply: it acted on replies from before the handshake (or pipelined past its EHLO)",
                           reference: "RFC 3207 §4.2; RFC 2920 §3.1; docs/catalog.md D3 (response injection)")
        }
    }

    /// A write by either side as one end of a real connection sees it (a socket, the proxy):
    /// the verdicts of `wrote` and of `boundary`; a server write is also what the client reads
    /// (`handed`: what it was given instead, when an attacker rewrote it).
    public mutating func observe(_ bytes: [UInt8], by side: Side, epoch: Int, step: TriggerTracker.ClientStep?, handed: [UInt8]? = nil) -> [Verdict] {
        var verdicts = wrote(bytes, by: side, WriterState(epoch: epoch, unverifiedTLS: epoch == 1 && servedCertificateUnverified), step: step)
        if let v = boundary(bytes, by: side, epoch: epoch, commands: step?.commands.count ?? 0) { verdicts.append(v) }
        if side == .server { clientRead(handed ?? bytes, epoch: epoch) }
        return verdicts
    }

    /// A write by either side (`step`: the tracker's reading of a client's write); the verdicts
    /// against the judged side, in the order the simulator has always reported them.
    public mutating func wrote(_ bytes: [UInt8], by side: Side, _ state: WriterState, step: TriggerTracker.ClientStep?) -> [Verdict] {
        switch side {
        case .server:
            guard judged == .server, state.epoch == 0, let mechanisms = Self.plaintextPasswordMechanisms(offeredIn: bytes) else { return [] }
            return [Verdict(oracle: .plaintextExposure, side: .server,
                            explanation: "the server offers a plaintext password mechanism (AUTH \(mechanisms.joined(separator: " "))) before TLS",
                            reference: "RFC 4954 §4 note; docs/catalog.md H6")]
        case .client:
            guard judged == .client else { return [] }
            let commands = step?.commands ?? []
            defer { if state.epoch == 0, let last = commands.last, Self.isStartTLS(last) { startTLSReply = [] } }
            var verdicts: [Verdict] = []
            if implicitTLS, state.epoch == 0, !clearUnderImplicitSaid, bytes.first != TLSRecords.handshake,
                let line = bytes.split(separator: 0x0A).first(where: { Self.sessionVerbs.contains(Self.verb($0)) })
            {
                clearUnderImplicitSaid = true
                verdicts.append(Verdict(oracle: .plaintextExposure, side: .client,
                                        explanation: "the client, configured for implicit TLS, sent \(BytePreview.text(Array(line.prefix(40).filter { $0 != 0x0D }))) in the clear instead of ending a connection that did not start with TLS",
                                        reference: "RFC 8314 §3, §5.1"))
            }
            // The write's own lines, not the command framing: after a 220 the client's TLS
            // ClientHello reaches a server that never started TLS as a line without an end, and
            // the command that follows it in its own write would be read as that line's tail.
            if state.epoch == 0, startTLSAgreed, !clearAfterAgreementSaid,
                let line = bytes.split(separator: 0x0A).first(where: { Self.sessionVerbs.contains(Self.verb($0)) && ($0.count == 4 || [0x20, 0x0D].contains($0[$0.startIndex + 4])) })
            {
                clearAfterAgreementSaid = true
                verdicts.append(Verdict(oracle: .plaintextExposure, side: .client,
                                        explanation: "the client sent \(BytePreview.text(Array(line.prefix(40).filter { $0 != 0x0D }))) in plaintext after the server's 220 to its STARTTLS, on the same connection, instead of ending it",
                                        reference: "RFC 3207 §4.1; docs/catalog.md B4"))
            }
            guard state.epoch == 0 || state.unverifiedTLS else { return verdicts }
            let where_ = state.epoch == 0 ? "in plaintext" : "to an unverified TLS peer"
            // A line answering an AUTH challenge is a credential (RFC 4954 §4), unless it cancels.
            if let responses = step?.saslResponses, responses.contains(where: { !$0.elementsEqual([0x2A]) }) {
                verdicts.append(Verdict(oracle: .plaintextExposure, side: .client, explanation: "the client sent credentials (its answer to an AUTH challenge) \(where_)",
                                        reference: "RFC 4954 §4 note, §15; docs/catalog.md H6"))
            }
            // One finding per write for the envelope: a pipelined MAIL, RCPT, DATA is one exposure.
            var exposed: [String] = []
            for line in commands {
                let verb = Self.verb(line)
                if verb == "AUTH", line.split(separator: 0x20).count > 2 || String(decoding: line, as: UTF8.self).uppercased().hasPrefix("AUTH LOGIN") {
                    verdicts.append(Verdict(oracle: .plaintextExposure, side: .client, explanation: "the client sent credentials \(where_)",
                                            reference: "RFC 4954 §4 note, §15; docs/catalog.md H6"))
                }
                if demandsVerifiedTLS, Self.envelopeVerbs.contains(verb), !exposed.contains(verb) { exposed.append(verb) }
            }
            if !exposed.isEmpty {
                verdicts.append(Verdict(oracle: .plaintextExposure, side: .client,
                                        explanation: "\(exposed.joined(separator: ", ")) sent \(state.epoch == 0 ? "in plaintext" : "over TLS with an unverified certificate") under a policy that requires verified TLS",
                                        reference: "RFC 3207 §6; RFC 8461 §5; docs/catalog.md B1/C1"))
            }
            return verdicts
        }
    }

    /// Commands that carry a session on (greeting, envelope, data, authentication); QUIT, RSET
    /// and NOOP after a failed upgrade are a client leaving or idling, not carrying on.
    static let sessionVerbs: Set<String> = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "AUTH"]
    static let envelopeVerbs: Set<String> = ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"]
    static let code220 = Array("220".utf8), code421 = Array("421".utf8)
    static let multiline250 = Array("250-".utf8), authKeyword = Array("AUTH".utf8)

    /// The line is `STARTTLS` (any case), compared octet by octet (this runs on every write).
    static func isStartTLS(_ line: ArraySlice<UInt8>) -> Bool {
        line.count == 8 && zip(line, startTLSVerb).allSatisfy { $0 & 0xDF == $1 }
    }

    static let startTLSVerb = Array("STARTTLS".utf8)

    /// A command line's verb, upper-cased (its first four octets; every verb judged here has four).
    static func verb(_ line: ArraySlice<UInt8>) -> String {
        String(decoding: line.prefix(4), as: UTF8.self).uppercased()
    }

    /// The plaintext password mechanisms (PLAIN, LOGIN) an EHLO reply in `bytes` offers, with
    /// every mechanism it lists; nil when it offers neither.
    public static func plaintextPasswordMechanisms(offeredIn bytes: [UInt8]) -> [String]? {
        guard bytes.starts(with: multiline250), Octets.contains(bytes, authKeyword), let caps = firstEHLO(bytes),
            caps.authMechanisms.contains(where: { ["PLAIN", "LOGIN"].contains($0) })
        else { return nil }
        return caps.authMechanisms
    }

    /// The first multiline 250 reply in a server stream, as capabilities, read as tolerantly as
    /// smtpsim's client reads it (lines up to `SMTPLimits.tolerantReplyLine`): an AUTH line over
    /// 512 octets still offers what a client acts on.
    public static func firstEHLO(_ stream: [UInt8]) -> EHLOCapabilities? {
        var parser = ReplyParser(limits: SMTPLimits(replyLine: SMTPLimits.tolerantReplyLine))
        parser.append(stream)
        while let reply = try? parser.next() {
            if reply.code.value == 250, reply.lines.count > 1 { return try? EHLOCapabilities(reply: reply) }
        }
        return nil
    }
}
