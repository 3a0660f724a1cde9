import ArgumentParser
import Foundation
import SMTPCore

/// `smtpsim bench`: throughput of the hot paths, each beside a same-run baseline. Run it from a
/// release build (`swift run -c release smtpsim bench parsers`); figures from debug builds mean
/// nothing.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure parser throughput against same-run baselines (use a release build).",
        subcommands: [Parsers.self, TLSHandshakes.self, Sim.self]
    )

    struct Parsers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Command lines, replies, and the DATA end-of-data scanner vs memchr."
        )

        @Option(help: "Seconds to run each measurement.")
        var seconds: Double = 1.0

        @Option(help: "Repetitions of each measurement; the median is reported.")
        var repetitions: Int = 5

        func run() throws {
            #if DEBUG
            print("warning: this is a debug build; use `swift run -c release smtpsim bench parsers`")
            #endif
            let timer = Timer(seconds: seconds, repetitions: repetitions)
            print("smtpsim bench parsers (median of \(repetitions) x \(seconds) s)")

            // 1. Command lines: framing + parsing of a realistic client stream.
            let commands = ParserWorkload.commandStream(lines: 10_000)
            let cmd = timer.measure(bytes: commands.bytes.count, items: commands.lines) {
                var framer = LineFramer()
                let parser = CommandParser()
                framer.append(commands.bytes)
                var n = 0
                while let line = try? framer.next() {
                    if (try? parser.parse(line)) != nil { n += 1 }
                }
                precondition(n == commands.lines, "command workload must parse cleanly")
                return n
            }
            print(cmd.format("command lines (frame + parse)", unit: "lines"))

            // 2. Replies: multiline EHLO replies and single-line replies.
            let replies = ParserWorkload.replyStream(replies: 5_000)
            let rep = timer.measure(bytes: replies.bytes.count, items: replies.lines) {
                var parser = ReplyParser()
                parser.append(replies.bytes)
                var lines = 0
                while let reply = try? parser.next() { lines += reply.lines.count }
                precondition(lines == replies.lines, "reply workload must parse cleanly")
                return lines
            }
            print(rep.format("reply lines (frame + assemble)", unit: "lines"))

            // 3. DATA end-of-data scanner over a 1 MiB stuffed body, beside memchr.
            let payload = ParserWorkload.dataPayload(octets: 1 << 20)
            let dec = timer.measure(bytes: payload.count, items: 1) {
                var decoder = DataDecoder()
                let consumed = decoder.decode(payload)
                precondition(decoder.isComplete && consumed == payload.count)
                return decoder.bodySize
            }
            let memchrOnce = timer.measure(bytes: payload.count, items: 1) {
                payload.withUnsafeBufferPointer { b in
                    memchr(b.baseAddress!, 0x01, b.count) == nil ? 1 : 0
                }
            }
            let memchrLines = timer.measure(bytes: payload.count, items: 1) {
                payload.withUnsafeBufferPointer { b in
                    var p = UnsafeRawPointer(b.baseAddress!)
                    let end = p + b.count
                    var lines = 0
                    while p < end, let hit = memchr(p, 0x0A, end - p) {
                        lines += 1
                        p = UnsafeRawPointer(hit) + 1
                    }
                    return lines
                }
            }
            print(dec.format("DATA decoder, 1 MiB body", unit: "bodies"))
            print(memchrLines.format("baseline: memchr line walk", unit: "walks"))
            print(memchrOnce.format("baseline: one memchr pass", unit: "passes"))
            print(String(format: "  decoder / memchr line walk: %.2f   decoder / one memchr pass: %.2f",
                         dec.bytesPerSecond / memchrLines.bytesPerSecond, dec.bytesPerSecond / memchrOnce.bytesPerSecond))

            // 4. The dot-stuffer (client side) on the same body.
            let body = ParserWorkload.body(octets: 1 << 20)
            let stuff = timer.measure(bytes: body.count, items: 1) {
                (try? DotStuffer().encode(body))?.count ?? 0
            }
            print(stuff.format("DotStuffer, 1 MiB body", unit: "bodies"))
        }
    }
}

/// Repeats a closure for a time budget and reports the median rate.
struct Timer {
    let seconds: Double
    let repetitions: Int

    struct Result {
        let bytesPerSecond: Double
        let itemsPerSecond: Double

        func format(_ label: String, unit: String) -> String {
            String(format: "  %-34@ %12.0f %@/s  %9.1f MB/s", label as NSString, itemsPerSecond, unit as NSString,
                   bytesPerSecond / 1e6)
        }
    }

    func measure(bytes: Int, items: Int, _ body: () -> Int) -> Result {
        var rates: [(Double, Double)] = []
        var sink = 0
        for _ in 0..<repetitions {
            let clock = ContinuousClock()
            let start = clock.now
            var iterations = 0
            var elapsed = 0.0
            repeat {
                sink &+= body()
                iterations += 1
                let d = clock.now - start
                elapsed = d.inSeconds
            } while elapsed < seconds
            rates.append((Double(bytes * iterations) / elapsed, Double(items * iterations) / elapsed))
        }
        if sink == 42 { print("") }  // keep the work observable
        rates.sort { $0.0 < $1.0 }
        let mid = rates[rates.count / 2]
        return Result(bytesPerSecond: mid.0, itemsPerSecond: mid.1)
    }
}

/// Deterministic workloads for the benchmarks (no randomness: the same bytes on every run).
enum ParserWorkload {
    static func commandStream(lines: Int) -> (bytes: [UInt8], lines: Int) {
        let templates = [
            "EHLO client%d.example.test",
            "MAIL FROM:<sender%d@example.org> SIZE=12345 BODY=8BITMIME",
            "RCPT TO:<recipient%d@example.net>",
            "RCPT TO:<\"quoted user%d\"@[192.0.2.1]>",
            "DATA",
            "RSET",
            "NOOP",
            "VRFY postmaster%d",
            "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
            "QUIT",
        ]
        var out: [UInt8] = []
        for i in 0..<lines {
            let t = templates[i % templates.count].replacingOccurrences(of: "%d", with: String(i))
            out += Array(t.utf8) + [13, 10]
        }
        return (out, lines)
    }

    static func replyStream(replies: Int) -> (bytes: [UInt8], lines: Int) {
        var out: [UInt8] = []
        var lines = 0
        let ehlo = EHLOCapabilities(
            domain: "mx.example.test", greeting: "Hello client",
            extensions: [.pipelining, .size(10_485_760), .eightBitMIME, .enhancedStatusCodes, .startTLS,
                         .auth(["PLAIN", "LOGIN"]), .chunking, .smtpUTF8]
        ).reply
        let singles: [SMTPReply] = [.senderOK, .recipientOK, .startMailInput, .messageAccepted(queueID: "ABC123"), .closing("mx.example.test")]
        for i in 0..<replies {
            let r = i % 6 == 0 ? ehlo : singles[i % singles.count]
            out += r.wire
            lines += r.lines.count
        }
        return (out, lines)
    }

    /// A plain-text body of about `octets` octets: 72-octet lines, one in 16 starting with ".".
    static func body(octets: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(octets + 80)
        let text = Array("The quick brown fox jumps over the lazy dog; pack my box with five dozen".utf8)
        var n = 0
        while out.count < octets {
            if n % 16 == 0 { out.append(0x2E) }
            out += text.prefix(70)
            out += [13, 10]
            n += 1
        }
        return out
    }

    /// The DATA payload (stuffed body plus terminator) for `body(octets:)`.
    static func dataPayload(octets: Int) -> [UInt8] {
        (try? DotStuffer().encode(body(octets: octets))) ?? []
    }
}
