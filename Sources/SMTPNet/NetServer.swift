import Foundation
import NIOCore
import SMTPServer
import SMTPTLS
import EndpointHosting

/// `smtpsim serve`: smtpsim's server state machine over real TCP, with real STARTTLS through the
/// OpenSSL engine, stream faults, flaw profiles and a maildir.
public struct NetServer: Sendable {
    public var listen: HostPort
    public var configuration: ServerConfiguration
    /// The server's TLS identity; nil answers STARTTLS with 454 (TLS not available).
    public var identity: TLSIdentity?
    /// Stream faults, each on the connections its rule names (validated by `StreamFaults`).
    public var faultRules: [FaultRule] = []
    public var limits = SessionLimits()
    /// Stop after accepting this many connections (nil: serve until killed).
    public var maximumConnections: Int?
    /// Connections at once, per client, and the stress that trims idle ones (`ConnectionLimits`).
    public var connectionLimits = ConnectionLimits()
    public var maildir: MaildirWriter?
    /// Called with every accepted message (`probe --outbound`'s next hop counts them).
    public var onDeliver: (@Sendable (AcceptedMessage) -> Void)?
    /// Where each connection's record goes (`serve --record DIR`): `C1.json` (its events and
    /// the findings against the client, `SessionRecord.Document`) and `C1.log` (the dialogue).
    public var recordDirectory: URL?
    /// What each session's judge knows of the client (`probe --client`): it was configured to
    /// require verified TLS, and the certificate served does not verify for it.
    public var clientDemandsVerifiedTLS = false
    public var certificateUnverifiable = false
    /// The client under judgement was configured for implicit TLS (`probe --client
    /// --implicit-tls`): SMTP it writes in the clear is a finding (RFC 8314 §3).
    public var clientExpectsImplicitTLS = false

    public init(listen: HostPort, configuration: ServerConfiguration, identity: TLSIdentity?) {
        self.listen = listen
        self.configuration = configuration
        self.identity = identity
    }

    /// Listens, calls `ready` with the bound port, and serves until `maximumConnections` were
    /// served. `log` gets every event, tagged with its connection ("C1", "C2", …).
    public func run(ready: @Sendable (Int) -> Void, log: @escaping @Sendable (String, WireEvent) -> Void) async throws(NetError) {
        var configuration = configuration
        let context: TLSContext?
        if let identity {
            do {
                var tls = TLSConfiguration.server(identity)
                tls.keyLog = recordDirectory != nil  // the record's key log decrypts its pcap
                context = try TLSContext(tls)
            } catch {
                throw .setup("TLS setup failed: \(error)")
            }
        } else {
            context = nil
            configuration.tlsAvailable = false
        }
        _ = try StreamFaults(rules: faultRules, side: .server)  // refuse simulation-only faults before listening
        let listener = try await Sockets.listen(listen)
        ready(Sockets.port(of: listener))
        let server = self
        let config = configuration
        let pressure = ConnectionPressure(connectionLimits)
        try await Sockets.accept(on: listener, prefix: "C", maximum: maximumConnections) { channel, id, _ in
            let client = channel.channel.remoteAddress?.ipAddress ?? "?"
            let admission = await pressure.admit(client)
            guard admission == .admitted else {
                // RFC 5321 §3.8: 421 and close; RFC 3463: 4.7.0 for a policy limit, 4.3.2 when busy.
                let (why, reply) = admission == .tooManyFromClient
                    ? ("\(server.connectionLimits.maximumPerClient) connections from \(client) already open", "421 4.7.0 \(config.hostname) too many connections from your address")
                    : ("\(server.connectionLimits.maximumConcurrent) connections already open", "421 4.3.2 \(config.hostname) too many connections, try again later")
                log(id, .note("refused: \(why)"))
                try? await channel.executeThenClose { _, out in try await out.write(ByteBuffer(string: reply + "\r\n")) }
                return
            }
            defer { pressure.release(client, id: id) }
            await server.serve(channel, id: id, configuration: config, context: context, pressure: pressure, log: log)
        }
    }

    private func serve(_ channel: ByteChannel, id: String, configuration: ServerConfiguration, context: TLSContext?, pressure: ConnectionPressure,
                       log: @escaping @Sendable (String, WireEvent) -> Void) async {
        let peer = Sockets.peer(of: channel)
        log(id, .note("connection from \(peer)"))
        let endpoint = BuiltInServerEndpoint(configuration: configuration, connectionID: id)
        let number = Int(id.dropFirst()) ?? 0
        let faults = (try? StreamFaults(rules: faultRules, side: .server, connection: number)) ?? StreamFaults()  // validated in run()
        let record = recordDirectory.map { _ in SessionRecord() }
        let session = SocketSession(endpoint: endpoint, tlsContext: context, faults: faults, limits: limits) { event in
            record?.record(event)
            log(id, event)
        }
        session.judgeClient(demandsVerifiedTLS: clientDemandsVerifiedTLS, servedCertificateUnverified: certificateUnverifiable, implicitTLS: clientExpectsImplicitTLS)
        // Under stress an idle session waits for its next command only as long as the stress
        // timeout (the server then says 421 4.4.2 and closes).
        session.timerClamp = { id in id == .server(.idle) ? pressure.idleClamp : nil }
        // The session's progress (completed lines) decides whom a full listener evicts.
        session.onProgress = { pressure.progress(id) }
        if let record { session.onWire = { record.wire(outgoing: $0, $1) } }
        pressure.started(id, evict: session.evictor)
        let maildir = maildir, onDeliver = onDeliver
        endpoint.onDeliver = { [weak session] message in
            onDeliver?(message)
            guard let maildir else { return }
            let tls = session?.tlsDetails.map { "\($0.version) \($0.cipherSuite)" }
            do {
                let path = try maildir.write(message, peer: peer, tls: tls, sessionFindings: session?.findings ?? [])
                log(id, .note("wrote \(path)"))
            } catch {
                log(id, .note("could not write the message to the maildir: \(error)"))
            }
        }
        let end = await session.run(channel)
        log(id, .note("session ended: \(end)"))
        guard let recordDirectory, let record else { return }
        do {
            try record.write(to: recordDirectory, name: id, peer: peer, end: end, ours: .server, findings: session.findings, keyLog: session.keyLogLines)
        } catch {
            log(id, .note("could not write the record to \(recordDirectory.path): \(error)"))
        }
    }
}
