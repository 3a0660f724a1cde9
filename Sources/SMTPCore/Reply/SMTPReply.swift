/// One SMTP reply: a code and one or more lines of text (RFC 5321 §4.2, §4.2.1).
///
/// Every line of a multiline reply carries the same code; on the wire every line but the last is
/// `code "-" text` and the last is `code SP text` (or the bare code: RFC 5321 §4.2 lets a client
/// meet a code without text; never for a 334 challenge, whose SP RFC 4954 §4 requires). When ENHANCEDSTATUSCODES is in effect each line's text starts with
/// an enhanced status code (RFC 2034 §4); the parser picks it out line by line.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    public struct Line: Hashable, Sendable {
        /// The enhanced status code that starts this line's text, when one is present.
        public var enhancedCode: EnhancedStatusCode?
        /// The text after the code (and after the enhanced code and its space, when present).
        public var text: String

        public init(_ text: String, enhancedCode: EnhancedStatusCode? = nil) {
            self.text = text
            self.enhancedCode = enhancedCode
        }
    }

    public var code: ReplyCode
    /// At least one line.
    public var lines: [Line]

    public init(code: ReplyCode, lines: [Line]) {
        precondition(!lines.isEmpty, "a reply has at least one line")
        self.code = code
        self.lines = lines
    }

    /// A one-line reply, or a multiline one when `text` holds several lines, each with `enhanced`.
    public init(_ code: ReplyCode, _ enhanced: EnhancedStatusCode? = nil, _ text: String...) {
        self.init(code: code, lines: (text.isEmpty ? [""] : text).map { Line($0, enhancedCode: enhanced) })
    }

    /// The enhanced code of the first line (RFC 2034 §4: the same on every line).
    public var enhancedCode: EnhancedStatusCode? { lines.first?.enhancedCode }

    /// True when an enhanced code's class contradicts the basic code's first digit (`550 2.0.0`):
    /// RFC 3463 §2 requires them to agree; clients decide on the basic code (docs/catalog.md F4).
    public var hasEnhancedClassMismatch: Bool {
        lines.contains { $0.enhancedCode.map { Int($0.codeClass) != Int(code.value / 100) } ?? false }
    }

    /// All text lines joined with newlines (for display).
    public var text: String { lines.map(\.text).joined(separator: "\n") }

    /// The reply with every line's enhanced code removed, for peers that did not negotiate
    /// ENHANCEDSTATUSCODES.
    public var withoutEnhancedCodes: SMTPReply {
        SMTPReply(code: code, lines: lines.map { Line($0.text) })
    }

    /// Appends the reply's wire form to `out`. Text is emitted as given: the catalogue and the
    /// server only put printable text here; `validate()` says whether a reply is well-formed.
    public func write(into out: inout [UInt8]) {
        let digits: (UInt8, UInt8, UInt8) = (
            ASCII.zero + UInt8(code.value / 100), ASCII.zero + UInt8((code.value / 10) % 10),
            ASCII.zero + UInt8(code.value % 10)
        )
        for (index, line) in lines.enumerated() {
            out.append(digits.0)
            out.append(digits.1)
            out.append(digits.2)
            let last = index == lines.count - 1
            // RFC 4954 §4: `continue-req = "334" SP [base64] CRLF`: the SP even when empty.
            let hasText = line.enhancedCode != nil || !line.text.isEmpty || code.value == 334
            if !last {
                out.append(ASCII.hyphen)
            } else if hasText {
                out.append(ASCII.space)
            }
            if let enhanced = line.enhancedCode {
                enhanced.write(into: &out)
                if !line.text.isEmpty { out.append(ASCII.space) }
            }
            // A native string's octets are copied at once, not walked one by one.
            if line.text.utf8.withContiguousStorageIfAvailable({ out.append(contentsOf: $0) }) == nil { out.append(contentsOf: line.text.utf8) }
            out.append(ASCII.cr)
            out.append(ASCII.lf)
        }
    }

    /// The reply's wire form.
    public var wire: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(lines.count * 32)
        write(into: &out)
        return out
    }

    /// Checks the reply against the grammar of RFC 5321 §4.2 and the line limit of §4.5.3.1.5:
    /// text is `%d9 / %d32-126`, and every wire line fits in `limits.replyLine`.
    public func validate(limits: SMTPLimits = .rfc) throws(SMTPError) {
        for line in lines {
            var length = 3 + 1 + line.text.utf8.count + 2
            if let e = line.enhancedCode { length += e.description.utf8.count + 1 }
            if length > limits.replyLine {
                throw SMTPError(.replyLineTooLong, fault: .local, detail: "reply line of \(length) octets")
            }
            for b in line.text.utf8 where !(b == ASCII.tab || (b >= 0x20 && b < 0x7F)) {
                throw SMTPError(
                    .invalidCharacter, fault: .local, detail: "reply text byte \(ASCII.escaped([b]))"
                )
            }
        }
        if lines.count > limits.replyLines {
            throw SMTPError(.tooManyReplyLines, fault: .local, detail: "\(lines.count) lines")
        }
    }

    public var description: String {
        var out = ""
        for (index, line) in lines.enumerated() {
            out += "\(code)\(index == lines.count - 1 ? " " : "-")"
            if let e = line.enhancedCode { out += "\(e) " }
            out += line.text
            if index < lines.count - 1 { out += "\n" }
        }
        return out
    }
}
