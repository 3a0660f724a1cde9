/// Help texts as ArgumentParser shows them: it wraps each line to the terminal's width itself, so
/// a paragraph written over several source lines must reach it as one line, or it breaks
/// mid-sentence. `reflow` joins the lines of each paragraph; a blank line ends a paragraph, and a
/// line that starts with a space (an example) or `- ` (a list item) keeps a line of its own.
enum Help {
    static func reflow(_ text: String) -> String {
        var out: [String] = []
        var paragraph: [String] = []
        func flush() {
            if !paragraph.isEmpty { out.append(paragraph.joined(separator: " ")) }
            paragraph = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            if trimmed.isEmpty {
                flush()
                out.append("")
            } else if line.first == " " || trimmed.hasPrefix("- ") {
                flush()
                out.append(String(line))
            } else {
                paragraph.append(String(line))
            }
        }
        flush()
        return out.joined(separator: "\n")
    }
}
