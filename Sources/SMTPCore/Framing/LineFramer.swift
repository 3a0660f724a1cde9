/// Splits a byte stream into CRLF-terminated lines, strictly (RFC 5321 §2.3.8).
///
/// Rules:
/// - Only CR LF ends a line. A bare CR or a bare LF is never a line end: the whole line that holds
///   it is rejected with `.bareCarriageReturn` / `.bareLineFeed` carrying the stream offset of the
///   first offending byte, and the framer skips to the next CR LF.
/// - A line longer than `maximumLineLength` (CRLF included) is rejected with `.lineTooLong` as soon
///   as the limit is passed (so a megabyte with no CRLF costs no memory), and the framer discards
///   the rest of that line up to its CR LF.
/// - A line that breaks two rules is rejected for the one whose octet comes first in the stream
///   (the octet that makes a line too long is its (limit − 1)th before CR LF; a bare CR there
///   counts first), so the error is the same however the stream is cut into segments.
/// - Each byte is examined once: a partial line is never rescanned when more bytes arrive, so a
///   stream fed one byte at a time costs the same as one fed whole.
/// - Memory is bounded by `maximumLineLength` plus what the caller appended but has not read.
///
/// Usage: `append(_:)` bytes as they arrive, then call `next()` until it returns `nil` (needs
/// more bytes). Each error is reported once, in stream order with the lines around it.
public struct LineFramer: Sendable {
    /// The limit for one line, CRLF included.
    public var maximumLineLength: Int

    private var buffer: [UInt8] = []
    /// Start of the current (unfinished) line in `buffer`.
    private var lineStart = 0
    /// Bytes in `buffer[lineStart..<scanned]` hold no CR and no LF.
    private var scanned = 0
    /// Stream offset of `buffer[0]`.
    private var base = 0
    private var mode: Mode = .framing
    /// Octets examined for line ends so far: each octet of the stream is examined once, which a
    /// test proves by counting (a rescanning framer would examine a partial line again and again).
    public private(set) var octetsExamined = 0

    private enum Mode: Sendable {
        case framing
        /// Skipping the rest of a rejected line; `sawCR` when the last skipped byte was a CR.
        case discarding(sawCR: Bool)
    }

    public init(maximumLineLength: Int = SMTPLimits.rfcCommandLine) {
        precondition(maximumLineLength >= 3, "a line needs room for CRLF")
        self.maximumLineLength = maximumLineLength
    }

    /// Number of bytes appended but not yet returned as lines or discarded.
    public var bufferedByteCount: Int { buffer.count - lineStart }

    /// Stream offset of the next byte `next()` will look at (the start of the unfinished line).
    public var streamOffset: Int { base + lineStart }

    /// True while the framer skips the remainder of a rejected line.
    public var isDiscarding: Bool {
        if case .discarding = mode { return true }
        return false
    }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    /// The same for contiguous bytes, without the generic path (callers in other modules get an
    /// unspecialised generic otherwise: a metadata lookup and an element-by-element copy).
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) { append(bytes[...]) }

    /// Removes and returns every buffered byte not yet framed (for a switch to DATA or BDAT mode,
    /// where the bytes after the command belong to the message), resetting any discard state.
    public mutating func takeBufferedBytes() -> [UInt8] {
        let rest = Array(buffer[lineStart...])
        base += buffer.count
        buffer.removeAll(keepingCapacity: buffer.capacity <= Self.idleCapacity)
        lineStart = 0
        scanned = 0
        mode = .framing
        return rest
    }

    /// Drops every buffered byte and returns how many there were (the STARTTLS boundary, RFC 3207
    /// §4.2: bytes received before the handshake must not be acted on after it).
    public mutating func discardBufferedBytes() -> Int {
        takeBufferedBytes().count
    }

    /// The next complete line without its CR LF; `nil` when more bytes are needed.
    /// Throws once per rejected line; call again to continue after it.
    public mutating func next() throws(SMTPError) -> ArraySlice<UInt8>? {
        releaseIfConsumed()
        while true {
            switch mode {
            case .discarding(let sawCR):
                guard skipRejectedLine(sawCR: sawCR) else { return nil }
            case .framing:
                return try frameLine()
            }
        }
    }

    // MARK: - Private

    private mutating func frameLine() throws(SMTPError) -> ArraySlice<UInt8>? {
        let end = buffer.count
        let scannedBefore = scanned
        // The octet that makes the line too long when it is text: one past `maximumLineLength`
        // − 2 octets of text. A bare CR or LF before it (a CR at it) is the first fault.
        let crossing = lineStart + maximumLineLength - 2
        let outcome: FrameOutcome = buffer.withUnsafeBufferPointer { buf in
            let p = buf.baseAddress!
            guard let lf = ByteSearch.first(ASCII.lf, in: p, from: scanned, to: end) else {
                // No LF yet: a CR here is bare unless it is the last byte (its LF may follow).
                if let cr = ByteSearch.first(ASCII.cr, in: p, from: scanned, to: end), cr < end - 1 {
                    return cr <= crossing ? .bareCR(cr) : .tooLongUnfinished
                }
                let pendingCR = end > scanned && p[end - 1] == ASCII.cr
                let clean = pendingCR ? end - 1 : end
                // The line will be at least `clean - lineStart` + CRLF long.
                if clean - lineStart + 2 > maximumLineLength { return .tooLongUnfinished }
                return .needMore(scannedTo: clean)
            }
            if let cr = ByteSearch.first(ASCII.cr, in: p, from: scanned, to: lf), cr < lf - 1 {
                return cr <= crossing ? .bareCR(cr) : .tooLongUnfinished
            }
            guard lf > lineStart, p[lf - 1] == ASCII.cr else { return lf <= crossing ? .bareLF(lf) : .tooLongUnfinished }
            if lf + 1 - lineStart > maximumLineLength { return .tooLongFinished(lf) }
            return .line(lf)
        }
        switch outcome {
        case .line(let lf), .bareLF(let lf), .tooLongFinished(let lf): octetsExamined += lf + 1 - scannedBefore
        case .bareCR(let at): octetsExamined += at + 1 - scannedBefore
        case .needMore, .tooLongUnfinished: octetsExamined += end - scannedBefore
        }
        switch outcome {
        case .line(let lf):
            let line = buffer[lineStart..<(lf - 1)]
            lineStart = lf + 1
            scanned = lineStart
            return line
        case .needMore(let clean):
            scanned = clean
            return nil
        case .bareCR(let at):
            let error = SMTPError(
                .bareCarriageReturn, reply: .bareLineEnding, offset: base + at, detail: "CR not followed by LF"
            )
            rejectCurrentLine(from: at + 1)
            throw error
        case .bareLF(let at):
            let error = SMTPError(
                .bareLineFeed, reply: .bareLineEnding, offset: base + at, detail: "LF not preceded by CR"
            )
            rejectCurrentLine(from: at + 1)
            throw error
        case .tooLongFinished(let lf):
            let error = SMTPError(
                .lineTooLong, reply: .lineTooLong, offset: base + lineStart,
                detail: "line of \(lf + 1 - lineStart) octets, limit \(maximumLineLength)"
            )
            lineStart = lf + 1
            scanned = lineStart
            throw error
        case .tooLongUnfinished:
            let error = SMTPError(
                .lineTooLong, reply: .lineTooLong, offset: base + lineStart,
                detail: "line longer than the limit of \(maximumLineLength) octets"
            )
            rejectCurrentLine(from: lineStart)
            throw error
        }
    }

    private enum FrameOutcome {
        case line(Int)
        case needMore(scannedTo: Int)
        case bareCR(Int)
        case bareLF(Int)
        case tooLongFinished(Int)
        case tooLongUnfinished
    }

    /// Rejects the current line: everything up to its CR LF is skipped. Bytes before `from` are
    /// known not to hold the line's CR LF.
    private mutating func rejectCurrentLine(from: Int) {
        let sawCR = from > lineStart && buffer[from - 1] == ASCII.cr
        lineStart = from
        scanned = from
        mode = .discarding(sawCR: sawCR)
    }

    /// Skips bytes up to and including the next CR LF. Returns true when it was found.
    private mutating func skipRejectedLine(sawCR: Bool) -> Bool {
        let end = buffer.count
        var start = lineStart
        var previousCR = sawCR
        let found: Int? = buffer.withUnsafeBufferPointer { buf in
            let p = buf.baseAddress!
            while let lf = ByteSearch.first(ASCII.lf, in: p, from: start, to: end) {
                let crBefore = lf > start ? p[lf - 1] == ASCII.cr : previousCR
                if crBefore { return lf }
                start = lf + 1
                previousCR = false
            }
            return nil
        }
        octetsExamined += (found.map { $0 + 1 } ?? end) - lineStart
        if let lf = found {
            lineStart = lf + 1
            scanned = lineStart
            mode = .framing
            return true
        }
        let lastCR = end > lineStart ? buffer[end - 1] == ASCII.cr : sawCR
        lineStart = end
        scanned = end
        mode = .discarding(sawCR: lastCR)
        return false
    }

    /// Capacity a framer keeps once it has handed out everything it held: a command line's worth
    /// (RFC 5321 §4.5.3.1.4, 512 octets) and then some; a buffer a burst grew past it is let go,
    /// so an idle connection costs its state, not its largest segment.
    public static let idleCapacity = 1024

    /// Everything buffered has been read (the lines handed out before this call are the caller's
    /// by now): start the buffer over, keeping only a small capacity.
    private mutating func releaseIfConsumed() {
        guard lineStart > 0, lineStart == buffer.count else { return }
        base += buffer.count
        buffer.removeAll(keepingCapacity: buffer.capacity <= Self.idleCapacity)
        lineStart = 0
        scanned = 0
    }

    /// Moves the unfinished line to the front once the consumed prefix is large, so the buffer's
    /// size stays proportional to the unfinished line, not to the stream.
    private mutating func compactIfUseful() {
        guard lineStart > 0, lineStart >= 4096 || lineStart * 2 >= buffer.count else { return }
        buffer.removeSubrange(0..<lineStart)
        base += lineStart
        scanned -= lineStart
        lineStart = 0
    }
}
