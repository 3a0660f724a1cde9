/// A problem in a scenario file: where (file:line:column and the key path), what was expected, and
/// a suggestion when a key looks misspelt. Bad files exit with status 2, never a crash.
public struct ScenarioError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// e.g. `client.messages[0].to`.
    public var keyPath: String
    public var message: String
    public var suggestion: String?

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String, message: String, suggestion: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
        self.suggestion = suggestion
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        s += ": "
        if !keyPath.isEmpty { s += "\(keyPath): " }
        s += message
        if let suggestion { s += " (did you mean '\(suggestion)'?)" }
        return s
    }
}

/// The closest word within an edit distance of 2 (or sharing a long prefix), for suggestions.
func closest(_ word: String, among candidates: [String]) -> String? {
    var best: (String, Int)?
    for c in candidates {
        let d = editDistance(Array(word.lowercased()), Array(c.lowercased()))
        if d <= 2 || c.hasPrefix(word) && word.count >= 3 || word.hasPrefix(c) && c.count >= 4 {
            if best == nil || d < best!.1 { best = (c, d) }
        }
    }
    return best?.0
}

private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
