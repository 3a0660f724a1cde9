import EndpointHosting
import SMTPCore
import Simulation

extension ScenarioLoader {
    static let relayKeys = ["hostname", "line-endings", "server", "client", "faults", "attacker"]

    /// `relay:` (docs/scenario-format.md "relay"): the clients submit to it, it forwards to the
    /// file's server. `line-endings` sets both halves at once (reject: its server refuses a bare
    /// CR or LF; normalize, pass-through: its server takes them and its client forwards them
    /// so); `server` and `client` take the server and client keys for its two sides.
    static func readRelay(_ r: YAMLReader, behind serverHostname: String) throws(ScenarioError) -> RelaySpec {
        let o = try r.object(relayKeys)
        var relay = RelaySpec()
        let hostname = try o["hostname"]?.string() ?? RelaySpec.defaultHostname
        if let server = o["server"] {
            if try server.object(serverKeys).has("hostname") { throw server.error("name the relay with relay.hostname") }
            var inner = SimulationConfiguration(seed: 0)
            if try readServer(server, into: &inner) != nil { throw server.error("a relay is smtpsim's server and client: it takes no script") }
            relay.server = inner.server
        }
        relay.server.configuration.hostname = hostname
        if let client = o["client"] {
            relay.client = try readClient(client, index: 0, serverName: serverHostname, forwarding: true).0
        } else {
            relay.client.configuration.serverName = serverHostname
        }
        if try o["client"]?.object(clientKeys).has("helo") != true { relay.client.configuration.heloName = hostname }
        if let l = o["line-endings"] { relay.lineEndings = try l.enumeration(LineEndings.Policy.self, LineEndings.Policy.allCases) }
        relay.faults = try o["faults"]?.list().map { x throws(ScenarioError) in try readFault(x) } ?? []
        relay.attacker = try o["attacker"]?.list().map { x throws(ScenarioError) in try readAttack(x) } ?? []
        return relay
    }
}
