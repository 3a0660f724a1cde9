import Foundation

extension FileHandle {
    /// Calls `body` with each line (without its LF) until the other end closes; for following a
    /// child process's output as it comes.
    func forEachLine(_ body: (String) -> Void) {
        var buffer = Data()
        while true {
            let chunk = availableData
            if chunk.isEmpty { break }
            buffer += chunk
            while let nl = buffer.firstIndex(of: 0x0A) {
                body(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
                buffer = buffer[(nl + 1)...]
            }
        }
    }
}
