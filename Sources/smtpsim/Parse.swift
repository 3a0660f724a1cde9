import ArgumentParser
import Foundation
import SMTPCore

/// `smtpsim parse`: decodes a captured SMTP byte stream with SMTPCore and explains every value,
/// error and finding, offset by offset.
struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode a raw SMTP byte stream (what a client sent, or what a server sent).",
        discussion: Help.reflow("""
            The file holds raw bytes. For --side client, command lines are parsed; after DATA the
            bytes up to <CRLF>.<CRLF> are decoded as message data (354 assumed), reporting bare
            CR/LF and every SMTP-smuggling sequence; BDAT chunks are skipped by size; bytes that
            follow STARTTLS in the stream are reported (a compliant server discards them).
            For --side server, replies are assembled (multiline, enhanced codes) and EHLO replies
            are read as capability lists.
            """)
    )

    enum Side: String, ExpressibleByArgument, CaseIterable {
        case client, server
    }

    @Argument(help: "Files holding raw SMTP bytes.")
    var files: [String]

    @Option(help: "Whose bytes the file holds: client (commands and data) or server (replies).")
    var side: Side = .client

    @Flag(help: "Exit with status 1 when a protocol error or finding is reported.")
    var strict = false

    func run() throws {
        var problems = 0
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("smtpsim: cannot read \(path)\n".utf8))
                throw ExitCode(ExitStatus.badInput.rawValue)
            }
            print("== \(path) (\(data.count) octets, \(side.rawValue) side)")
            let bytes = [UInt8](data)
            switch side {
            case .client: problems += ClientStreamReport(bytes: bytes).run()
            case .server: problems += ServerStreamReport(bytes: bytes).run()
            }
        }
        if strict && problems > 0 { throw ExitCode(ExitStatus.finding.rawValue) }
    }
}

/// Walks a client's byte stream the way a compliant server would read it.
struct ClientStreamReport {
    let bytes: [UInt8]

    private func line(_ offset: Int, _ kind: String, _ text: String) {
        let o = String(offset)
        print("  @\(o)\(String(repeating: " ", count: max(1, 7 - o.count)))\(kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(text)")
    }

    func run() -> Int {
        var problems = 0
        var stream = ClientStream(maximumLineLength: SMTPLimits.rfcAuthLine)
        let parser = CommandParser()
        stream.append(bytes)
        var smtpUTF8 = false
        var readerStart = 0  // where the current message data or chunk began
        while let item = stream.next() {
            let lineStart: Int
            let raw: ArraySlice<UInt8>
            switch item {
            case .lineError(let error):
                problems += 1
                line(error.offset ?? 0, "error", describe(error))
                continue
            case .endOfData(let decoder, _):
                problems += reportData(decoder, start: readerStart)
                smtpUTF8 = false
                continue
            case .chunkOctets:
                continue
            case .endOfChunk(let reader):
                line(readerStart, "chunk", "\(reader.size) of \(reader.size) octets\(reader.isLast ? " (LAST)" : "")")
                continue
            case .line(let text, let offset):
                lineStart = offset
                raw = text
            }
            let command: SMTPCommand
            do {
                command = try parser.parse(raw, smtpUTF8: smtpUTF8)
            } catch {
                problems += 1
                line(lineStart + (error.offset ?? 0), "error", describe(error))
                continue
            }
            if case .unknown = command {
                line(lineStart, "unknown", "\(command.description) -> server replies 500 5.5.2")
            } else {
                line(lineStart, "command", command.description)
            }
            let afterLine = lineStart + raw.count + 2
            switch command {
            case .mail(_, let params):
                smtpUTF8 = params.smtpUTF8
            case .unknown:
                problems += 1
            case .data:
                // 354 assumed: what follows is message data.
                readerStart = afterLine
                stream.beginData()
            case .bdat(let size, let last):
                readerStart = afterLine
                stream.beginChunk(size: size, last: last)
            case .startTLS:
                let after = stream.bufferedByteCount
                if after > 0 {
                    problems += 1
                    line(afterLine, "finding",
                         "\(after) octets follow STARTTLS before any TLS handshake: a compliant server discards them (RFC 3207 §4.2, CVE-2011-0411)")
                }
                return problems
            case .quit:
                if stream.bufferedByteCount > 0 { line(afterLine, "note", "\(stream.bufferedByteCount) octets after QUIT") }
                return problems
            case .ehlo, .helo, .rcpt, .rset, .noop, .vrfy, .help, .auth:
                break
            }
        }
        if let decoder = stream.currentData {
            problems += reportData(decoder, start: readerStart)
            line(readerStart + decoder.bodySize, "end", "stream ended inside message data")
        } else if let reader = stream.currentChunk {
            line(readerStart, "chunk", "\(reader.received) of \(reader.size) octets\(reader.isLast ? " (LAST)" : "")")
            line(readerStart + Int(reader.received), "end", "stream ended inside a BDAT chunk")
        } else if stream.bufferedByteCount > 0 {
            line(bytes.count - stream.bufferedByteCount, "end", "\(stream.bufferedByteCount) octets without CRLF at the end")
        }
        return problems
    }

    private func reportData(_ decoder: DataDecoder, start: Int) -> Int {
        var problems = 0
        let f = decoder.findings
        let ending = decoder.isComplete ? "ended by <CRLF>.<CRLF>" : "not ended"
        line(start, "data", "\(decoder.bodySize) octets of message, \(ending)")
        for s in f.smuggling {
            problems += 1
            line(start + s.offset, "finding", "SMTP smuggling sequence \(s.variant.rawValue) (\(s.variant.escaped)): not an end of data (RFC 5321 §4.1.1.4)")
        }
        if f.smugglingCount > f.smuggling.count {
            line(start, "finding", "\(f.smugglingCount - f.smuggling.count) more smuggling sequences")
        }
        if let o = f.firstBareLFOffset {
            problems += 1
            line(start + o, "finding", "\(f.bareLF) bare LF in message data (RFC 5321 §2.3.8)")
        }
        if let o = f.firstBareCROffset {
            problems += 1
            line(start + o, "finding", "\(f.bareCR) bare CR in message data (RFC 5321 §2.3.8)")
        }
        if let o = f.firstNULOffset {
            line(start + o, "note", "\(f.nul) NUL octets in message data")
        }
        if f.longLines > 0 {
            problems += 1
            line(start, "finding", "\(f.longLines) text lines over 1000 octets (RFC 5321 §4.5.3.1.6)")
        }
        return problems
    }
}

/// Walks a server's byte stream the way a client would read it.
struct ServerStreamReport {
    let bytes: [UInt8]

    func run() -> Int {
        var problems = 0
        var parser = ReplyParser()
        parser.append(bytes)
        var offset = 0
        while true {
            let before = bytes.count - parser.bufferedByteCount
            do {
                guard let reply = try parser.next() else { break }
                offset = before
                print("  @\(offset)\t reply  \(reply.code) (\(reply.lines.count) line\(reply.lines.count == 1 ? "" : "s"))"
                    + (reply.enhancedCode.map { " enhanced \($0)" } ?? ""))
                for l in reply.lines { print("           | \(l.text)") }
                if reply.hasEnhancedClassMismatch {
                    problems += 1
                    print("           finding: enhanced code class contradicts the reply code (RFC 3463 §2)")
                }
                if reply.code.value == 250, reply.lines.count > 1, let caps = try? EHLOCapabilities(reply: reply) {
                    print("           capabilities: \(caps.extensions.map(\.description).joined(separator: ", "))")
                }
            } catch {
                problems += 1
                print("  @\(error.offset ?? before)\t error  \(describe(error))")
            }
        }
        if parser.bufferedByteCount > 0 {
            print("  end: \(parser.bufferedByteCount) octets without CRLF")
        }
        return problems
    }
}

func describe(_ error: SMTPError) -> String {
    var s = "\(error.code.name): \(error.detail)"
    if let reply = error.reply { s += " -> server replies \(reply.code) \(reply.enhancedCode.map { "\($0) " } ?? "")\(reply.lines[0].text)" }
    return s
}
