import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// Every server reply stream parses under RFC 5321 §4.2 (one reply per command, consistent
/// multiline codes, line limits), plaintext and TLS parts each; checked once, at the end, in one
/// pass over the trace (docs/catalog.md F1).
struct ReplyGrammarOracle: RunOracle {
    /// Every server reply stream must parse under RFC 5321 §4.2 (one pass over the trace).
    func check(in world: World) {
        var streams = Array(repeating: ([UInt8](), [UInt8]()), count: world.connections.count + 1)
        for e in world.trace.events where e.connection > 0 {
            if case .plaintext(.serverToClient, let epoch, let bytes) = e.kind {
                if epoch == 0 { streams[e.connection].0 += bytes } else { streams[e.connection].1 += bytes }
            }
        }
        for c in world.connections {
            for stream in [streams[c.id].0, streams[c.id].1] where !stream.isEmpty {
                var parser = ReplyParser()
                parser.append(stream)
                while true {
                    do {
                        guard try parser.next() != nil else { break }
                    } catch {
                        world.flag(c, .replyGrammar, .server, "the server sent a reply that breaks the grammar: \(error)", "RFC 5321 §4.2, §4.2.1")
                        break
                    }
                }
            }
        }
    }

}
