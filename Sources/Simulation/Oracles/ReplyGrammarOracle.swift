import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// Every server reply stream parses under RFC 5321 §4.2 (one reply per command, consistent
/// multiline codes, line limits) and RFC 4954 §4's challenge form (`334 SP`), plaintext and TLS
/// parts each (docs/catalog.md F1). Parsed as the server writes, so nothing of the stream is kept;
/// judged at the end of the run.
struct ReplyGrammarOracle: RunOracle {
    /// The two reply streams of one connection as they are written: before TLS and inside it.
    struct Streams {
        private var parsers = [Self.strictParser, Self.strictParser]
        /// The first grammar error of each stream; a stream is not read past it.
        private(set) var errors: [SMTPError?] = [nil, nil]

        /// A reader of what a server wrote, strict where a client reads tolerantly (a bare 334).
        private static var strictParser: ReplyParser {
            var parser = ReplyParser()
            parser.strictChallenges = true
            return parser
        }

        /// The server wrote `bytes` (epoch 0: before TLS; any other: inside TLS).
        mutating func wrote(_ bytes: [UInt8], epoch: Int) {
            let k = epoch == 0 ? 0 : 1
            guard errors[k] == nil else { return }
            parsers[k].append(bytes)
            do {
                while try parsers[k].skipNext() {}
            } catch {
                errors[k] = error
                parsers[k] = ReplyParser()  // what it held will never be read
            }
        }
    }

    /// Flags the streams that broke the grammar, connection by connection.
    func check(in world: World) {
        for c in world.connections {
            for error in c.replyStreams.errors {
                guard let error else { continue }
                let rfc = error.code == .bareChallenge ? "RFC 4954 §4" : "RFC 5321 §4.2, §4.2.1"
                world.flag(c, .replyGrammar, .server, "the server sent a reply that breaks the grammar: \(error)", rfc)
            }
        }
    }
}
