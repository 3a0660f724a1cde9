/// Decodes the message data that follows a `354` reply (RFC 5321 §4.1.1.4, §4.5.2), incrementally.
///
/// Rules:
/// - The only end of data is `<CRLF>.<CRLF>`; the CRLF of the DATA command counts as the first
///   CRLF, so a payload of ".\r\n" is an empty message. Bytes after it are not consumed: they are
///   the next commands (PIPELINING, RFC 2920 §3.1).
/// - Transparency: a "." starting a line is removed (§4.5.2). "Line" means after a real CRLF; a
///   "." after a bare LF is ordinary text.
/// - Bare CR, bare LF and NUL are kept in the body as they came and counted in `findings`; the
///   server decides whether to refuse the message (RFC 5321 §2.3.8, docs/catalog.md G2).
/// - Every SMTP-smuggling pseudo-terminator (`SmugglingVariant`) is reported as its own finding
///   with its offset, never silently normalised. A decoder configured with
///   `acceptedPseudoTerminators` (a flaw profile reproducing CVE-2023-51764 and kin) ends the data
///   at such a sequence instead, exactly as vulnerable servers did.
/// - Memory is bounded: the body is stored up to `maximumMessageSize` octets (beyond that it is
///   only counted, `isOversized`), and at most `maximumRecordedFindings` smuggling findings are kept.
/// - Each byte is examined once; lines are crossed with `memchr`, so the cost per byte is close to
///   a memory copy, and any split of the input gives the same result.
public struct DataDecoder: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// RFC 5321 §4.5.3.1.6, CRLF included, transparency dot not counted.
        public var textLineLimit: Int
        /// Octets of unstuffed body to keep; more is counted, not stored.
        public var maximumMessageSize: Int
        /// Pseudo-terminators treated as the end of data (flaw profiles only; empty when compliant).
        public var acceptedPseudoTerminators: [SmugglingVariant]
        /// Bound on stored smuggling findings (all are counted).
        public var maximumRecordedFindings: Int

        public init(
            textLineLimit: Int = SMTPLimits.rfcTextLine, maximumMessageSize: Int = 10 * 1024 * 1024,
            acceptedPseudoTerminators: [SmugglingVariant] = [], maximumRecordedFindings: Int = 32
        ) {
            self.textLineLimit = textLineLimit
            self.maximumMessageSize = maximumMessageSize
            self.acceptedPseudoTerminators = acceptedPseudoTerminators
            self.maximumRecordedFindings = maximumRecordedFindings
        }
    }

    /// How the data ended.
    public enum Terminator: Hashable, Sendable {
        /// `<CRLF>.<CRLF>`.
        case standard
        /// A pseudo-terminator accepted by a flaw profile.
        case pseudo(SmugglingVariant)
    }

    public let configuration: Configuration
    /// The unstuffed body (up to `maximumMessageSize` octets), ending with the CRLF before the dot.
    public private(set) var body: [UInt8] = []
    /// Total unstuffed octets seen, stored or not.
    public private(set) var bodySize = 0
    public private(set) var findings = DataFindings()
    /// Set once the end of data has been consumed.
    public private(set) var terminator: Terminator?

    public var isComplete: Bool { terminator != nil }
    public var isOversized: Bool { bodySize > configuration.maximumMessageSize }

    // MARK: State

    /// The last raw bytes, newest in the low byte. Starts as the DATA command's CRLF.
    private var history: UInt64 = 0x0D0A
    private var phase: Phase = .lineStart
    /// The last byte was a CR placed in the body; whether it was bare depends on the next byte.
    private var pendingCR = false
    /// Raw octets of the current line so far (stuffing dot not counted).
    private var lineLength = 0
    private var lineFlaggedLong = false
    /// Offset (in the data stream) of the next byte.
    private var offset = 0
    /// `body.count` / `bodySize` when the last "." was seen, to cut a pseudo-terminator off.
    private var sizeBeforeLastDot = 0

    private enum Phase: Sendable {
        /// After a real CRLF: a "." here is a transparency dot or the start of the terminator.
        case lineStart
        /// Saw "." at a line start (dropped).
        case dotAtLineStart
        /// Saw "." CR at a line start: LF now ends the data; anything else makes the CR bare.
        case dotCRAtLineStart
        /// Inside a line.
        case inLine
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Feeds message bytes. Returns how many were consumed: all of them, or up to and including
    /// the end of data. Nothing is consumed once the data has ended.
    @discardableResult
    public mutating func decode(_ bytes: ArraySlice<UInt8>) -> Int {
        bytes.withUnsafeBufferPointer { decode($0) }
    }

    @discardableResult
    public mutating func decode(_ bytes: [UInt8]) -> Int { decode(bytes[...]) }

    @discardableResult
    public mutating func decode(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        guard terminator == nil, let p = b.baseAddress else { return 0 }
        let n = b.count
        var i = 0
        while i < n {
            let next = fastPath(p, from: i, to: n)
            if next > i {
                i = next
                continue
            }
            if step(p[i]) { return i + 1 }
            if case .pseudo(let variant)? = terminator {
                // Deferred variants are decided on the byte after them, which stays unconsumed.
                return Self.isDecidedOnFollowingByte(variant) ? i : i + 1
            }
            i += 1
        }
        return n
    }

    // MARK: - Private

    @inline(__always)
    private static func isLineEnding(_ b: UInt8) -> Bool { b == ASCII.cr || b == ASCII.lf }

    private static func isDecidedOnFollowingByte(_ v: SmugglingVariant) -> Bool {
        v == .crCR || v == .lfCR || v == .crlfCR
    }

    /// Crosses ordinary text in bulk: runs of bytes without CR or LF, and the CRLFs that end them
    /// when nothing before or after can start a transparency dot, a terminator or a smuggling
    /// sequence. Returns where the byte-by-byte path must take over (`from` when it must at once).
    @inline(__always)
    private mutating func fastPath(_ p: UnsafePointer<UInt8>, from: Int, to n: Int) -> Int {
        switch phase {
        case .inLine:
            guard !pendingCR, !Self.isLineEnding(UInt8(truncatingIfNeeded: history)) else { return from }
        case .lineStart:
            guard Self.isOrdinaryLineStart(p[from]) else { return from }
        case .dotAtLineStart, .dotCRAtLineStart:
            return from
        }
        let limit = configuration.textLineLimit
        var j = from
        var length = lineLength
        var flagged = lineFlaggedLong
        var atLineStart = false
        while true {
            let lf = ByteSearch.first(ASCII.lf, in: p, from: j, to: n) ?? n
            let stop = ByteSearch.first(ASCII.cr, in: p, from: j, to: lf) ?? lf
            length += stop - j
            if !flagged, length + 2 > limit {
                flagged = true
                findings.longLines += 1
            }
            // A clean CRLF: CR then LF, after a byte that cannot end a smuggling sequence
            // (every sequence ending in CRLF has "." or CR before it).
            let before = stop > from ? p[stop - 1] : UInt8(truncatingIfNeeded: history)
            guard stop == lf - 1, lf < n, before != ASCII.dot, before != ASCII.cr else {
                j = stop
                break
            }
            j = lf + 1
            length = 0
            flagged = false
            guard j < n, Self.isOrdinaryLineStart(p[j]) else {
                atLineStart = true
                break
            }
        }
        guard j > from else { return from }
        let count = j - from
        storeBody(UnsafeBufferPointer(start: p + from, count: count))
        // A "." right before the CR or LF where the batch stops may start a pseudo-terminator.
        if p[j - 1] == ASCII.dot { sizeBeforeLastDot = bodySize - 1 }
        for k in (j - min(count, 8))..<j { history = history << 8 | UInt64(p[k]) }
        var searchFrom = from
        while let z = ByteSearch.first(ASCII.nul, in: p, from: searchFrom, to: j) {
            findings.recordNUL(at: offset + z - from)
            searchFrom = z + 1
        }
        offset += count
        lineLength = length
        lineFlaggedLong = flagged
        phase = atLineStart ? .lineStart : .inLine
        return j
    }

    /// A byte that may start a line without the byte-by-byte path: not ".", CR or LF.
    @inline(__always)
    private static func isOrdinaryLineStart(_ b: UInt8) -> Bool {
        b != ASCII.dot && b != ASCII.cr && b != ASCII.lf
    }

    @inline(__always)
    private mutating func storeBody(_ run: UnsafeBufferPointer<UInt8>) {
        let room = configuration.maximumMessageSize - body.count
        if room >= run.count {
            body.append(contentsOf: run)
        } else if room > 0 {
            body.append(contentsOf: UnsafeBufferPointer(rebasing: run[0..<room]))
        }
        bodySize += run.count
    }

    @inline(__always)
    private mutating func storeByte(_ byte: UInt8) {
        if body.count < configuration.maximumMessageSize { body.append(byte) }
        bodySize += 1
    }

    private mutating func flagLongLine() {
        lineFlaggedLong = true
        findings.longLines += 1
    }

    /// Processes one byte. Returns true when it completed the standard terminator.
    private mutating func step(_ byte: UInt8) -> Bool {
        let previous = history
        history = history << 8 | UInt64(byte)
        defer { offset += 1 }

        switch phase {
        case .dotCRAtLineStart:
            if byte == ASCII.lf {
                terminator = .standard
                return true
            }
            // ".\r" + something else: the dot was stuffing, the CR is bare.
            phase = .inLine
            storeByte(ASCII.cr)
            lineLength += 1
            findings.recordBareCR(at: offset - 1)
        case .dotAtLineStart:
            phase = .inLine
            if byte == ASCII.cr {
                phase = .dotCRAtLineStart
                detectSmuggling(previous: previous, byte: byte)
                return false
            }
        case .lineStart:
            phase = .inLine
            if byte == ASCII.dot {
                phase = .dotAtLineStart
                sizeBeforeLastDot = bodySize
                detectSmuggling(previous: previous, byte: byte)
                return false
            }
        case .inLine:
            break
        }

        // An ordinary position inside a line.
        if pendingCR {
            pendingCR = false
            if byte == ASCII.lf {
                // A real CRLF: the CR already counted in lineLength belongs to the terminator.
                storeByte(byte)
                let length = lineLength - 1 + 2
                if !lineFlaggedLong, length > configuration.textLineLimit { flagLongLine() }
                lineLength = 0
                lineFlaggedLong = false
                phase = .lineStart
                detectSmuggling(previous: previous, byte: byte)
                return false
            }
            findings.recordBareCR(at: offset - 1)
        }
        if byte == ASCII.cr {
            pendingCR = true
        } else if byte == ASCII.lf {
            findings.recordBareLF(at: offset)
        } else if byte == ASCII.nul {
            findings.recordNUL(at: offset)
        } else if byte == ASCII.dot {
            sizeBeforeLastDot = bodySize
        }
        storeByte(byte)
        lineLength += 1
        if !lineFlaggedLong, lineLength + 2 > configuration.textLineLimit, byte != ASCII.cr { flagLongLine() }
        detectSmuggling(previous: previous, byte: byte)
        return false
    }

    /// Looks for a pseudo-terminator ending at `byte` (or, for the three that must not be followed
    /// by LF, ending just before it). `previous` holds the raw bytes before `byte`.
    private mutating func detectSmuggling(previous: UInt64, byte: UInt8) {
        let now = history
        var found: (SmugglingVariant, Int)?  // variant and its length in bytes counted back from `byte`
        if byte == ASCII.lf {
            if Self.suffix(now, 7) == 0x0D0D_0A2E_0D0D_0A { found = (.crCRLFCRCRLF, 7) }
            else if Self.suffix(now, 6) == 0x0D0A_2E0D_0D0A { found = (.crlfCRCRLF, 6) }
            else if Self.suffix(now, 6) == 0x0D0A_002E_0D0A { found = (.nulBefore, 6) }
            else if Self.suffix(now, 4) == 0x0D2E_0D0A { found = (.crCRLF, 4) }
            else if Self.suffix(now, 4) == 0x0A2E_0D0A, Self.byte(now, 4) != ASCII.cr { found = (.lfCRLF, 4) }
            else if Self.suffix(now, 3) == 0x0A2E0A {
                found = Self.byte(now, 3) == ASCII.cr ? (.crlfLF, 4) : (.lfLF, 3)
            } else if Self.suffix(now, 3) == 0x0D2E0A { found = (.crLF, 3) }
        } else {
            // Variants ending in CR, decided now that the byte after the CR is not LF.
            let before = previous
            if byte == ASCII.cr, Self.suffix(before, 4) == 0x0D0A_2E0D {
                // "\r\n.\r\r": wait one more byte (an LF makes it crlf-dot-cr-crlf).
            } else if Self.suffix(before, 5) == 0x0D0A_2E0D_0D {
                found = (.crlfCR, 5)
            } else if Self.suffix(before, 4) == 0x0D0A_2E0D {
                found = (.crlfCR, 4)
            } else if Self.suffix(before, 3) == 0x0A2E0D {
                found = (.lfCR, 3)
            } else if Self.suffix(before, 3) == 0x0D2E0D {
                found = (.crCR, 3)
            }
            if let f = found {
                // The sequence ended before this byte.
                record(f.0, length: f.1, endingBefore: offset)
                return
            }
        }
        if let f = found { record(f.0, length: f.1, endingBefore: offset + 1) }
    }

    private mutating func record(_ variant: SmugglingVariant, length: Int, endingBefore end: Int) {
        findings.recordSmuggling(variant, at: max(0, end - length), keep: configuration.maximumRecordedFindings)
        if configuration.acceptedPseudoTerminators.contains(variant) {
            // A vulnerable server stops here: the body ends before the ".", and what follows the
            // sequence is read as commands.
            var cut = sizeBeforeLastDot
            if variant == .nulBefore { cut = max(0, cut - 1) }
            bodySize = cut
            if body.count > cut { body.removeSubrange(cut...) }
            terminator = .pseudo(variant)
        }
    }

    /// The low `count` bytes of `value`.
    @inline(__always)
    private static func suffix(_ value: UInt64, _ count: Int) -> UInt64 {
        count >= 8 ? value : value & ((1 << (UInt64(count) * 8)) - 1)
    }

    /// The byte `back` positions before the newest one (0 = newest).
    @inline(__always)
    private static func byte(_ value: UInt64, _ back: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: value >> (UInt64(back) * 8))
    }
}

/// What the DATA decoder noticed in a message, bounded in memory whatever the input.
public struct DataFindings: Hashable, Sendable {
    public struct Smuggling: Hashable, Sendable {
        public var variant: SmugglingVariant
        /// Offset of the sequence's first byte in the data stream.
        public var offset: Int
    }

    public internal(set) var bareCR = 0
    public internal(set) var bareLF = 0
    public internal(set) var nul = 0
    /// Lines over the text-line limit (RFC 5321 §4.5.3.1.6).
    public internal(set) var longLines = 0
    public internal(set) var firstBareCROffset: Int?
    public internal(set) var firstBareLFOffset: Int?
    public internal(set) var firstNULOffset: Int?
    /// The first smuggling sequences found, in stream order (bounded).
    public internal(set) var smuggling: [Smuggling] = []
    /// All smuggling sequences found, recorded or not.
    public internal(set) var smugglingCount = 0

    public init() {}

    /// True when the body broke RFC 5321 §2.3.8 (bare CR or LF).
    public var hasBareLineEndings: Bool { bareCR > 0 || bareLF > 0 }
    /// True when nothing was noticed.
    public var isClean: Bool { self == DataFindings() }
    /// The distinct variants found, in order of first appearance.
    public var variants: [SmugglingVariant] {
        var out: [SmugglingVariant] = []
        for s in smuggling where !out.contains(s.variant) { out.append(s.variant) }
        return out
    }

    mutating func recordBareCR(at offset: Int) {
        bareCR += 1
        if firstBareCROffset == nil { firstBareCROffset = offset }
    }

    mutating func recordBareLF(at offset: Int) {
        bareLF += 1
        if firstBareLFOffset == nil { firstBareLFOffset = offset }
    }

    mutating func recordNUL(at offset: Int) {
        nul += 1
        if firstNULOffset == nil { firstNULOffset = offset }
    }

    mutating func recordSmuggling(_ variant: SmugglingVariant, at offset: Int, keep: Int) {
        smugglingCount += 1
        if smuggling.count < keep { smuggling.append(Smuggling(variant: variant, offset: offset)) }
    }
}
