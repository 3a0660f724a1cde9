/// Renders `WireEvent`s as the dialogue people expect from SMTP tools (`C:` / `S:` lines, TLS
/// marked), bounded so a large message cannot flood the terminal.
public struct Dialogue: Sendable {
    /// Which side smtpsim plays: its own bytes are labelled with this side.
    public let ours: Side
    /// Longest line shown; longer ones end in "…".
    public var lineLimit = 200
    /// Lines shown per write; the rest is counted.
    public var linesPerWrite = 40

    public enum Side: String, Sendable { case client = "C", server = "S" }

    public init(ours: Side) {
        self.ours = ours
    }

    public func lines(_ event: WireEvent) -> [String] {
        switch event {
        case .sent(let bytes, let tls): render(bytes, label: ours.rawValue, tls: tls)
        case .received(let bytes, let tls): render(bytes, label: ours == .client ? "S" : "C", tls: tls)
        case .tls(let text): ["-- TLS: \(text)"]
        case .fault(let text): ["-- fault: \(text)"]
        case .note(let text): ["-- \(text)"]
        case .finding(let finding): ["-- FINDING \(finding.summary)"]
        }
    }

    private func render(_ bytes: [UInt8], label: String, tls: Bool) -> [String] {
        let prefix = tls ? "\(label)[tls]: " : "\(label): "
        var out: [String] = []
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for line in lines.prefix(linesPerWrite) {
            var text = ""
            for b in line.prefix(lineLimit) {
                switch b {
                case 0x0D: continue
                case 0x20..<0x7F: text.unicodeScalars.append(Unicode.Scalar(b))
                default: text += "\\x" + String(b, radix: 16, uppercase: true).leftPadded(2)
                }
            }
            if line.count > lineLimit { text += "…" }
            if line.last != 0x0D, line.endIndex != bytes.endIndex { text += " ⟨bare LF⟩" }
            out.append(prefix + text)
        }
        if lines.count > linesPerWrite { out.append(prefix + "… \(lines.count - linesPerWrite) more lines") }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
