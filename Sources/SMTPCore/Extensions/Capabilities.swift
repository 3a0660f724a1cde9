/// One service extension advertised in an EHLO reply (RFC 5321 §4.1.1.1 `ehlo-line`).
public enum Capability: Hashable, Sendable, CustomStringConvertible {
    /// RFC 3207 §2: no parameters.
    case startTLS
    /// RFC 2920.
    case pipelining
    /// RFC 1870 §4: `SIZE [max]`; 0 or absent means no fixed limit.
    case size(UInt64?)
    /// RFC 6152.
    case eightBitMIME
    /// RFC 2034.
    case enhancedStatusCodes
    /// RFC 4954 §3: `AUTH mech *(SP mech)`, upper-cased.
    case auth([String])
    /// RFC 3030 §2.
    case chunking
    /// RFC 3030 §3.
    case binaryMIME
    /// RFC 6531 §3.1.
    case smtpUTF8
    /// RFC 8689 §3.
    case requireTLS
    /// Any other keyword, with its parameters, kept as written.
    case other(keyword: String, parameters: [String])

    /// The EHLO keyword, upper-cased.
    public var keyword: String {
        switch self {
        case .startTLS: "STARTTLS"
        case .pipelining: "PIPELINING"
        case .size: "SIZE"
        case .eightBitMIME: "8BITMIME"
        case .enhancedStatusCodes: "ENHANCEDSTATUSCODES"
        case .auth: "AUTH"
        case .chunking: "CHUNKING"
        case .binaryMIME: "BINARYMIME"
        case .smtpUTF8: "SMTPUTF8"
        case .requireTLS: "REQUIRETLS"
        case .other(let keyword, _): keyword.uppercased()
        }
    }

    /// The `ehlo-line` text.
    public var description: String {
        switch self {
        case .size(let max?): "SIZE \(max)"
        case .auth(let mechanisms): (["AUTH"] + mechanisms).joined(separator: " ")
        case .other(let keyword, let parameters): ([keyword] + parameters).joined(separator: " ")
        case .startTLS, .pipelining, .size(nil), .eightBitMIME, .enhancedStatusCodes, .chunking, .binaryMIME,
            .smtpUTF8, .requireTLS:
            keyword
        }
    }

    /// Parses one `ehlo-line = ehlo-keyword *( SP ehlo-param )`. The old `AUTH=PLAIN LOGIN` form
    /// some servers still send is read as AUTH. Read as octets: every client reads one EHLO reply
    /// per session, and the grammar is ASCII (a String is made only for what the value keeps).
    public init(line: String) throws(SMTPError) {
        let bytes = Array(line.utf8)
        // The words between spaces (runs of spaces split once, as `split` does); the parameters'
        // array is made only when there are any.
        var words: [ArraySlice<UInt8>] = []
        var keyword = ArraySlice<UInt8>()
        var at = 0
        while at < bytes.count {
            while at < bytes.count, bytes[at] == ASCII.space { at += 1 }
            let start = at
            while at < bytes.count, bytes[at] != ASCII.space { at += 1 }
            guard at > start else { break }
            if keyword.isEmpty { keyword = bytes[start..<at] } else { words.append(bytes[start..<at]) }
        }
        guard !keyword.isEmpty else {
            throw SMTPError(.invalidCapability, detail: "empty EHLO line")
        }
        if keyword.count >= 5, Self.startsCaseInsensitively(keyword, with: Self.authEquals) {
            // "AUTH=" with nothing after it lists no mechanism (found by the EHLOCapabilities fuzzer).
            let first = keyword.dropFirst(5)
            if !first.isEmpty { words.insert(first, at: 0) }
            keyword = ArraySlice("AUTH".utf8)
        }
        // ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
        guard let first = keyword.first, ASCII.isAlphaNum(first), keyword.allSatisfy({ ASCII.isAlphaNum($0) || $0 == ASCII.hyphen }) else {
            throw SMTPError(.invalidCapability, detail: "invalid EHLO keyword \(ASCII.escaped(keyword))")
        }
        // ehlo-param = 1*(%d33-126)
        for word in words where !word.allSatisfy(ASCII.isGraphic) {
            throw SMTPError(.invalidCapability, detail: "invalid EHLO parameter \(ASCII.escaped(word))")
        }
        func text(_ word: ArraySlice<UInt8>) -> String { String(decoding: word, as: UTF8.self) }
        func noParameters(_ c: Capability) throws(SMTPError) -> Capability {
            guard words.isEmpty else {
                throw SMTPError(.invalidCapability, detail: "\(text(keyword)) takes no parameters: \(line)")
            }
            return c
        }
        // The keyword compared octet by octet, upper-cased (no String made for a known one).
        func named(_ name: [UInt8]) -> Bool { keyword.count == name.count && Self.startsCaseInsensitively(keyword, with: name) }
        if let known = Self.withoutParameters.first(where: { named($0.name) }) {
            self = try noParameters(known.value)
        } else if named(Self.sizeKeyword) {
            switch words.count {
            case 0: self = .size(nil)
            case 1:
                guard words[0].count <= 20, words[0].allSatisfy(ASCII.isDigit), let n = UInt64(text(words[0])) else {
                    throw SMTPError(.invalidCapability, detail: "SIZE parameter is not a number: \(text(words[0]))")
                }
                self = .size(n)
            default: throw SMTPError(.invalidCapability, detail: "SIZE takes one parameter")
            }
        } else if named(Self.authKeyword) {
            self = .auth(words.map { String(decoding: $0.map(ASCII.upper), as: UTF8.self) })
        } else {
            self = .other(keyword: text(keyword), parameters: words.map(text))
        }
    }

    /// The keywords that take no parameters, as octets (upper case), with their values.
    static let withoutParameters: [(name: [UInt8], value: Capability)] = [
        (Array("STARTTLS".utf8), .startTLS), (Array("PIPELINING".utf8), .pipelining), (Array("8BITMIME".utf8), .eightBitMIME),
        (Array("ENHANCEDSTATUSCODES".utf8), .enhancedStatusCodes), (Array("CHUNKING".utf8), .chunking), (Array("BINARYMIME".utf8), .binaryMIME),
        (Array("SMTPUTF8".utf8), .smtpUTF8), (Array("REQUIRETLS".utf8), .requireTLS),
    ]
    static let sizeKeyword = Array("SIZE".utf8), authKeyword = Array("AUTH".utf8), authEquals = Array("AUTH=".utf8)

    /// `word` starts with `prefix` (upper case), ignoring the case of ASCII letters.
    static func startsCaseInsensitively(_ word: ArraySlice<UInt8>, with prefix: [UInt8]) -> Bool {
        guard word.count >= prefix.count else { return false }
        var i = word.startIndex
        for p in prefix {
            guard ASCII.upper(word[i]) == p else { return false }
            i += 1
        }
        return true
    }
}

/// What a server says about itself in its EHLO reply (RFC 5321 §4.1.1.1):
/// `250-Domain [SP ehlo-greet]` followed by one `ehlo-line` per extension.
public struct EHLOCapabilities: Hashable, Sendable {
    /// The domain the server names itself by.
    public var domain: String
    /// The free text after the domain on the first line.
    public var greeting: String
    /// Extensions in the order advertised.
    public var extensions: [Capability]

    public init(domain: String, greeting: String = "", extensions: [Capability] = []) {
        self.domain = domain
        self.greeting = greeting
        self.extensions = extensions
    }

    /// Reads an EHLO reply. Fails on a non-250 reply or a malformed extension line.
    public init(reply: SMTPReply) throws(SMTPError) {
        guard reply.code.value == 250 else {
            throw SMTPError(.invalidCapability, detail: "EHLO answered with \(reply.code)")
        }
        // `Domain [SP ehlo-greet]`: split at the first space octet (not by Character: a space
        // is a space even before a combining mark).
        let first = reply.lines[0].text
        if let space = first.utf8.firstIndex(of: ASCII.space) {
            domain = String(first[..<space])
            greeting = String(first[first.utf8.index(after: space)...])
        } else {
            domain = first
            greeting = ""
        }
        var list: [Capability] = []
        for line in reply.lines.dropFirst() {
            // An enhanced code here would be a server bug (RFC 2034 §4 exempts EHLO); keep the text.
            let text = line.enhancedCode.map { "\($0) \(line.text)" } ?? line.text
            list.append(try Capability(line: text))
        }
        extensions = list
    }

    public func contains(_ keyword: String) -> Bool {
        extensions.contains { $0.keyword == keyword.uppercased() }
    }

    public var startTLS: Bool { extensions.contains(.startTLS) }
    public var pipelining: Bool { extensions.contains(.pipelining) }
    public var chunking: Bool { extensions.contains(.chunking) }
    public var enhancedStatusCodes: Bool { extensions.contains(.enhancedStatusCodes) }
    public var smtpUTF8: Bool { extensions.contains(.smtpUTF8) }
    public var requireTLS: Bool { extensions.contains(.requireTLS) }
    public var eightBitMIME: Bool { extensions.contains(.eightBitMIME) }

    /// SIZE: `nil` when not advertised, `.some(nil)` when advertised without a limit.
    public var size: UInt64?? {
        for case .size(let n) in extensions { return .some(n.flatMap { $0 == 0 ? nil : $0 }) }
        return nil
    }

    /// The advertised SASL mechanisms (empty without AUTH).
    public var authMechanisms: [String] {
        for case .auth(let m) in extensions { return m }
        return []
    }

    /// The EHLO reply that advertises these capabilities.
    public var reply: SMTPReply {
        let firstLine = greeting.isEmpty ? domain : "\(domain) \(greeting)"
        let lines = [SMTPReply.Line(firstLine)] + extensions.map { SMTPReply.Line($0.description) }
        return SMTPReply(code: ReplyCode(checked: 250), lines: lines)
    }
}
