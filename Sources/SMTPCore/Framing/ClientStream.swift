/// The one reader of what an SMTP client sends: command lines (strict CRLF framing, RFC 5321
/// §2.3.8), message data after a 354 up to `<CRLF>.<CRLF>` (§4.1.1.4, with every smuggling
/// variant reported), and BDAT chunk octets by size (RFC 3030 §2) — each item with its offset in
/// the stream. The server machine, the oracles' and fault triggers' tracker and `smtpsim parse`
/// all read a client through it.
///
/// Only the consumer knows when data or a chunk begins (whether DATA was accepted, or the size of
/// a BDAT it parsed), so it says so: `beginData` after the 354, `beginChunk` after a BDAT line.
/// Usage: `append(_:)` bytes as they arrive, then call `next()` until it returns nil.
///
/// Memory: the line framer's bound for lines; message data is decoded as it arrives (the
/// decoder keeps at most its `maximumMessageSize`); chunk octets wait only until `next()` hands
/// them over.
public struct ClientStream: Sendable {
    /// One thing read from the stream.
    public enum Item: Sendable {
        /// A command line (or an AUTH response line), without its CRLF.
        case line(ArraySlice<UInt8>, offset: Int)
        /// A line that was rejected (bare CR or LF, too long): reported once, skipped.
        case lineError(SMTPError)
        /// The message data has ended; the decoder holds the body and its findings. `offset` is
        /// the stream offset just past the end of data.
        case endOfData(DataDecoder, offset: Int)
        /// Octets of the current BDAT chunk (a chunk may come in several pieces).
        case chunkOctets([UInt8])
        /// The current BDAT chunk is complete.
        case endOfChunk(ChunkReader)
    }

    private enum Mode: Sendable {
        case lines
        case data(DataDecoder)
        case chunk(ChunkReader)
    }

    private var framer: LineFramer
    private var mode: Mode = .lines
    /// Stream offset of the framer's offset 0 (the framer counts only what it was given).
    private var framerDelta = 0
    /// Stream offset of the next byte a decoder or a chunk reads.
    private var readerOffset = 0
    /// Chunk octets read and not yet handed over.
    private var chunkOctets: [UInt8] = []
    /// A decoder whose data ended, waiting for `next()`.
    private var finishedData: (DataDecoder, Int)?

    public init(maximumLineLength: Int = SMTPLimits.rfcCommandLine) {
        framer = LineFramer(maximumLineLength: maximumLineLength)
    }

    /// Octets appended but not yet read (buffered lines and undelivered chunk octets).
    public var bufferedByteCount: Int { framer.bufferedByteCount + chunkOctets.count }

    /// True while message data or a chunk is being read.
    public var isInData: Bool {
        if case .lines = mode { return false }
        return true
    }

    /// The message data being read, while it has not ended.
    public var currentData: DataDecoder? {
        if case .data(let decoder) = mode { return decoder }
        return nil
    }

    /// The BDAT chunk being read, while its octets have not all been handed over.
    public var currentChunk: ChunkReader? {
        if case .chunk(let reader) = mode { return reader }
        return nil
    }

    /// Bytes from the client. Message data and chunk octets are read straight from `bytes`
    /// (no copy); lines are framed.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        switch mode {
        case .lines:
            framer.append(bytes)
        case .data, .chunk:
            feed(bytes, streamOffset: readerOffset)
        }
    }

    public mutating func append(_ bytes: [UInt8]) { append(bytes[...]) }

    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 { append(Array(bytes)[...]) }

    /// The next item; nil when more bytes are needed.
    public mutating func next() -> Item? {
        if let (decoder, end) = finishedData {
            finishedData = nil
            return .endOfData(decoder, offset: end)
        }
        switch mode {
        case .lines:
            do {
                let lineOffset = framer.streamOffset + framerDelta
                guard let line = try framer.next() else { return nil }
                return .line(line, offset: lineOffset)
            } catch {
                return .lineError(error)
            }
        case .data:
            return nil
        case .chunk(let reader):
            if !chunkOctets.isEmpty {
                defer { chunkOctets = [] }
                return .chunkOctets(chunkOctets)
            }
            guard reader.isComplete else { return nil }
            mode = .lines
            return .endOfChunk(reader)
        }
    }

    /// Message data starts with the bytes after the line just read (the 354 was sent).
    public mutating func beginData(_ configuration: DataDecoder.Configuration = DataDecoder.Configuration()) {
        mode = .data(DataDecoder(configuration: configuration))
        resumeWithBuffered()
    }

    /// A chunk of `size` octets starts with the bytes after the BDAT line just read.
    public mutating func beginChunk(size: UInt64, last: Bool) {
        mode = .chunk(ChunkReader(size: size, last: last))
        resumeWithBuffered()
    }

    /// Removes and returns every buffered byte not yet read (the keeps-plaintext flaw holds on to
    /// them across STARTTLS).
    public mutating func takeBufferedBytes() -> [UInt8] {
        framer.takeBufferedBytes()
    }

    /// Drops every buffered byte and returns how many there were (the STARTTLS boundary, RFC 3207
    /// §4.2: bytes received before the handshake must not be acted on after it).
    public mutating func discardBufferedBytes() -> Int {
        framer.discardBufferedBytes()
    }

    /// Lets go of every buffer, capacity included (a closed connection reads nothing more);
    /// returns how many unread octets there were.
    public mutating func release() -> Int {
        let unread = bufferedByteCount
        reset()
        return unread
    }

    /// Starts over, as at the start of a connection (after the TLS handshake).
    public mutating func reset() {
        framerDelta += framer.streamOffset + framer.bufferedByteCount
        framer = LineFramer(maximumLineLength: framer.maximumLineLength)
        mode = .lines
        chunkOctets = []
        finishedData = nil
    }

    // MARK: - Private

    /// Hands the framer's unread bytes to the reader that now begins.
    private mutating func resumeWithBuffered() {
        let start = framer.streamOffset + framerDelta
        let rest = framer.takeBufferedBytes()
        feed(rest[...], streamOffset: start)
    }

    /// Bytes at `streamOffset` for the data decoder or the chunk; what follows the end goes back
    /// to the framer.
    private mutating func feed(_ input: ArraySlice<UInt8>, streamOffset: Int) {
        var pending = input
        var at = streamOffset
        switch mode {
        case .lines:
            break
        case .data(var decoder):
            let used = decoder.decode(pending)
            pending = pending.dropFirst(used)
            at += used
            guard decoder.isComplete else {
                mode = .data(decoder)
                readerOffset = at
                return
            }
            mode = .lines
            finishedData = (decoder, at)
        case .chunk(var reader):
            let octets = reader.consume(pending)
            chunkOctets += octets
            pending = pending.dropFirst(octets.count)
            at += octets.count
            mode = .chunk(reader)
            guard reader.isComplete else {
                readerOffset = at
                return
            }
        }
        // What follows goes back to the framer, its offsets continuing from where the data or
        // chunk ended.
        framerDelta = at - framer.streamOffset
        if !pending.isEmpty { framer.append(pending) }
    }
}
