import Yams

/// A cursor over a YAML node that knows its key path and position, for precise errors.
struct YAMLReader {
    let node: Node
    let path: String
    let file: String

    func error(_ message: String, suggestion: String? = nil) -> ScenarioError {
        ScenarioError(file: file, line: node.mark?.line, column: node.mark?.column, keyPath: path, message: message, suggestion: suggestion)
    }

    var isScalar: Bool { node.scalar != nil }

    func string() throws(ScenarioError) -> String {
        guard let s = node.scalar?.string else { throw error("expected a text value, found \(kind)") }
        return s
    }

    func int(in range: ClosedRange<Int> = Int.min...Int.max) throws(ScenarioError) -> Int {
        guard let s = node.scalar?.string, let v = Int(s) else { throw error("expected a whole number, found \(describe)") }
        guard range.contains(v) else { throw error("\(v) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func uint64() throws(ScenarioError) -> UInt64 {
        guard let s = node.scalar?.string, let v = UInt64(s) else { throw error("expected a non-negative whole number, found \(describe)") }
        return v
    }

    func bool() throws(ScenarioError) -> Bool {
        switch node.scalar?.string.lowercased() {
        case "true"?, "yes"?, "on"?: return true
        case "false"?, "no"?, "off"?: return false
        default: throw error("expected true or false, found \(describe)")
        }
    }

    /// A duration: a number with a unit (ns, us, ms, s, m, h, d), e.g. `250ms`, `30m`.
    func duration() throws(ScenarioError) -> Int64 {
        guard let s = node.scalar?.string else { throw error("expected a duration such as 30s or 5m, found \(kind)") }
        let units: [(String, Int64)] = [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
                                        ("h", 3_600_000_000_000), ("d", 86_400_000_000_000)]
        for (unit, factor) in units where s.hasSuffix(unit) {
            let number = s.dropLast(unit.count)
            if let v = Int64(number), v >= 0, v <= Int64.max / factor { return v * factor }
        }
        throw error("expected a duration such as 250ms, 30s, 5m, 2h or 1d, found \(describe)")
    }

    func enumeration<T: RawRepresentable>(_ type: T.Type, _ cases: [T]) throws(ScenarioError) -> T where T.RawValue == String {
        let s = try string()
        if let v = T(rawValue: s) { return v }
        let names = cases.map(\.rawValue)
        throw error("unknown value '\(s)'; expected one of: \(names.joined(separator: ", "))", suggestion: closest(s, among: names))
    }

    func list() throws(ScenarioError) -> [YAMLReader] {
        if let seq = node.sequence {
            return seq.enumerated().map { YAMLReader(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
        }
        throw error("expected a list, found \(kind)")
    }

    /// A list, or a single value standing for a list of one.
    func listOrOne() throws(ScenarioError) -> [YAMLReader] {
        node.sequence != nil ? try list() : [self]
    }

    /// A mapping whose keys must all be in `allowed`.
    func object(_ allowed: [String]) throws(ScenarioError) -> YAMLObject {
        guard let mapping = node.mapping else { throw error("expected a mapping with keys \(allowed.joined(separator: ", ")), found \(kind)") }
        var entries: [(String, YAMLReader)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                throw YAMLReader(node: key, path: path, file: file).error("keys must be text")
            }
            let child = YAMLReader(node: value, path: path.isEmpty ? name : "\(path).\(name)", file: file)
            guard allowed.contains(name) else {
                throw YAMLReader(node: key, path: child.path, file: file).error(
                    "unknown key '\(name)'; expected one of: \(allowed.joined(separator: ", "))", suggestion: closest(name, among: allowed))
            }
            if entries.contains(where: { $0.0 == name }) { throw child.error("key '\(name)' given twice") }
            entries.append((name, child))
        }
        return YAMLObject(reader: self, entries: entries)
    }

    /// A mapping whose keys are the user's (addresses, names), each once, in file order.
    func keyed() throws(ScenarioError) -> [(String, YAMLReader)] {
        guard let mapping = node.mapping else { throw error("expected a mapping, found \(kind)") }
        var entries: [(String, YAMLReader)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw YAMLReader(node: key, path: path, file: file).error("keys must be text") }
            let child = YAMLReader(node: value, path: path.isEmpty ? name : "\(path).\(name)", file: file)
            if entries.contains(where: { $0.0 == name }) { throw child.error("key '\(name)' given twice") }
            entries.append((name, child))
        }
        return entries
    }

    /// A single-key mapping (`- reset: {at: after-mail}`) or a bare word (`- start-tls`).
    func tagged(_ allowed: [String]) throws(ScenarioError) -> (String, YAMLReader?) {
        if let word = node.scalar?.string {
            guard allowed.contains(word) else {
                throw error("unknown item '\(word)'; expected one of: \(allowed.joined(separator: ", "))", suggestion: closest(word, among: allowed))
            }
            return (word, nil)
        }
        let object = try self.object(allowed)
        guard object.entries.count == 1 else { throw error("each item has exactly one key (one of: \(allowed.joined(separator: ", ")))") }
        return (object.entries[0].0, object.entries[0].1)
    }

    var kind: String {
        switch node {
        case .scalar: "a text value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    var describe: String {
        if let s = node.scalar?.string { return "'\(s)'" }
        return kind
    }
}

/// A validated mapping.
struct YAMLObject {
    let reader: YAMLReader
    let entries: [(String, YAMLReader)]

    subscript(_ key: String) -> YAMLReader? { entries.first { $0.0 == key }?.1 }

    func required(_ key: String) throws(ScenarioError) -> YAMLReader {
        guard let r = self[key] else { throw reader.error("missing required key '\(key)'") }
        return r
    }

    func has(_ key: String) -> Bool { self[key] != nil }
}
