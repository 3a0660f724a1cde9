import EndpointHosting
import ArgumentParser
import Simulation

/// `smtpsim faults`: every fault, trigger and attacker action a scenario can use.
struct Faults: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every fault, trigger and attacker action with its parameters.")

    static let faults: [(String, String, String)] = [
        ("latency", "ms: N | [MIN, MAX]", "every segment waits a uniform time; TCP order is kept"),
        ("split", "every: N", "segments of at most N octets (1: one byte per segment)"),
        ("coalesce", "window: DURATION", "writes within the window leave as one segment"),
        ("stall", "for: DURATION, at: TRIGGER", "the link holds its bytes for a while"),
        ("reset", "at: TRIGGER | probability: RATIO", "the connection breaks; nothing more is delivered"),
        ("half-close", "direction, at: TRIGGER", "one direction closes in order (FIN)"),
        ("truncate", "direction, at: TRIGGER", "bytes in one direction vanish from then on, without a close"),
        ("corrupt", "probability: RATIO", "one byte of a plaintext segment changes (a broken middlebox)"),
        ("replace-reply", "with: TEXT, at: TRIGGER", "the server's write is replaced (bad replies)"),
        ("fail-handshake", "class: FAILURE", "the client's TLS handshake fails with that class (\(TLSFailureNames.all))"),
        ("async-421", "at: TRIGGER", "the server sends 421 and closes (RFC 5321 §3.8)"),
        ("refuse-connection", "", "the connection is refused"),
        ("connect-timeout", "after: DURATION", "the connection attempt times out"),
    ]

    static let attacks: [(String, String, String)] = [
        ("strip-starttls", "mode: overwrite | delete", "hide STARTTLS in the EHLO reply (docs/catalog.md B1)"),
        ("replace-starttls-reply", "with: TEXT", "answer STARTTLS itself: 454, or a bogus 220 (B2, B4)"),
        ("inject-to-server", "bytes: TEXT, same-segment: BOOL", "commands after STARTTLS (D1, D2; CVE-2011-0411)"),
        ("inject-to-client", "bytes: TEXT", "reply lines after the 220 (D3)"),
        ("tamper-capabilities", "add: [..], remove: [..]", "edit the plaintext EHLO reply (D4)"),
        ("inject-auth", "user, password", "log in before the client's STARTTLS, hide the reply (D5)"),
        ("intercept-tls", "", "terminate TLS with the attacker's own certificate (C6)"),
    ]

    func run() {
        print("Faults (scenario key `faults`; common settings: at, connections, direction):")
        for (name, params, what) in Self.faults { print("  \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(params.padding(toLength: 34, withPad: " ", startingAt: 0)) \(what)") }
        print("\nTriggers (`at`):")
        print("  phases: \(ProtocolPhase.allCases.map(\.rawValue).joined(separator: ", "))")
        print("  also: connection-opened, tls-started, {client-writes|server-writes: TEXT, cut: after-match|after-write, epoch: 0|1}, {time: DURATION}, {handshake-bytes: N}")
        print("\nAttacker actions (scenario key `attacker`):")
        for (name, params, what) in Self.attacks { print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(params.padding(toLength: 32, withPad: " ", startingAt: 0)) \(what)") }
    }
}

import SMTPTLS

enum TLSFailureNames {
    static var all: String { TLSFailure.Kind.allCases.map(\.rawValue).joined(separator: ", ") }
}
