import EndpointHosting
import Foundation
import SMTPCore

/// `smtpsim matrix`: which outbound relays and inbound servers, probed on their own (`probe
/// --outbound`, `probe`), deliver a smuggled message when put together (docs/catalog.md G2, G3).
///
/// A pair delivers one when a sequence the relay forwarded reaches the server as a sequence the
/// server ends the data at: the relay passed sequence v through as it was, or normalised it to
/// another variant w, and the server's `smuggling-w` check failed; or the relay itself ended the
/// data at v (`split`), which delivers the smuggled message to any next hop. The relay's next hop
/// offered no CHUNKING, so what it forwarded went with DATA, which the server's DATA checks judge.
public struct SmugglingMatrix: Sendable {
    public struct Outbound: Sendable {
        public var name: String
        public var results: [OutboundProbe.Result]
        public init(name: String, results: [OutboundProbe.Result]) {
            self.name = name
            self.results = results
        }
    }

    public struct Inbound: Sendable {
        public var name: String
        public var results: [Probe.Result]
        public init(name: String, results: [Probe.Result]) {
            self.name = name
            self.results = results
        }
    }

    /// One way through a pair: what was submitted, what the server read it as.
    public struct Path: Codable, Sendable, Equatable {
        /// The relay's check (`data-lf-dot-crlf`).
        public var submitted: String
        /// The variant the server ended the data at, or `relay` when the relay did.
        public var endedAt: String
        public var text: String { endedAt == "relay" ? "\(submitted) (the relay ends the data)" : "\(submitted) → \(endedAt)" }
    }

    public struct Pair: Codable, Sendable, Equatable {
        public var outbound: String
        public var inbound: String
        public var paths: [Path]
        public var delivers: Bool { !paths.isEmpty }
    }

    public let outbound: [Outbound]
    public let inbound: [Inbound]
    public let pairs: [Pair]

    public init(outbound: [Outbound], inbound: [Inbound]) {
        self.outbound = outbound
        self.inbound = inbound
        pairs = outbound.flatMap { o in inbound.map { Self.pair(o, $0) } }
    }

    static func pair(_ o: Outbound, _ i: Inbound) -> Pair {
        var failing: [String: Bool] = [:]  // the server's DATA smuggling checks by variant; lookups only
        for r in i.results where r.check.hasPrefix("smuggling-") { failing[String(r.check.dropFirst("smuggling-".count))] = r.verdict == .fail }
        var paths: [Path] = []
        for r in o.results where r.carriesSmuggling && [.verbatim, .normalised, .split].contains(r.arrival) {
            if r.arrival == .split {
                paths.append(Path(submitted: r.check, endedAt: "relay"))
                continue
            }
            guard let base64 = r.arrivedBase64, let arrived = try? Base64.decode(base64),
                  let w = SmugglingVariant.allCases.first(where: { $0.bytes == arrived }) else { continue }
            if failing[w.rawValue] == true { paths.append(Path(submitted: r.check, endedAt: w.rawValue)) }
        }
        return Pair(outbound: o.name, inbound: i.name, paths: paths)
    }

    // MARK: - Output

    public var text: String {
        var lines = ["pairs through which a smuggled message is delivered (rows: outbound relays, columns: inbound servers):"]
        let width = max(12, (inbound.map(\.name.count).max() ?? 0) + 2)
        let rowWidth = max(8, outbound.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        lines.append(pad("", rowWidth) + "  " + inbound.map { pad($0.name, width) }.joined())
        for o in outbound {
            let cells = inbound.map { i in pairs.first { $0.outbound == o.name && $0.inbound == i.name }.map { $0.delivers ? "DELIVERS(\($0.paths.count))" : "—" } ?? "?" }
            lines.append(pad(o.name, rowWidth) + "  " + cells.map { pad($0, width) }.joined())
        }
        for p in pairs where p.delivers {
            lines.append("\(p.outbound) → \(p.inbound): " + p.paths.map(\.text).joined(separator: ", "))
        }
        lines.append("\(pairs.filter(\.delivers).count) of \(pairs.count) pairs deliver a smuggled message")
        return lines.joined(separator: "\n")
    }

    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct Document: Encodable {
            var outbound: [String], inbound: [String], pairs: [Pair]
        }
        return (try? encoder.encode(Document(outbound: outbound.map(\.name), inbound: inbound.map(\.name), pairs: pairs))) ?? Data()
    }

    public var html: String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var out = ["<!doctype html><meta charset=utf-8><title>smtpsim smuggling pairs</title>",
                   "<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.4em .6em;vertical-align:top}td.bad{background:#fdd}td.ok{background:#dfd}code{font-size:12px}</style>",
                   "<h1>SMTP smuggling pairs</h1><p>Rows: outbound relays (<code>smtpsim probe --outbound</code>); columns: inbound servers (<code>smtpsim probe</code>). A red cell delivers a smuggled message.</p>",
                   "<table><tr><th></th>" + inbound.map { "<th>\(esc($0.name))</th>" }.joined() + "</tr>"]
        for o in outbound {
            var row = "<tr><th>\(esc(o.name))</th>"
            for i in inbound {
                let p = pairs.first { $0.outbound == o.name && $0.inbound == i.name }
                if let p, p.delivers {
                    row += "<td class=bad>delivers<br>" + p.paths.map { "<code>\(esc($0.text))</code>" }.joined(separator: "<br>") + "</td>"
                } else {
                    row += "<td class=ok>—</td>"
                }
            }
            out.append(row + "</tr>")
        }
        out.append("</table>")
        return out.joined(separator: "\n") + "\n"
    }
}
