import SMTPCore
@_exported import TestSupport

/// What a framer-driven parser produced, comparable across feedings.
enum Framed: Equatable, CustomStringConvertible {
    case line(String)
    case error(SMTPError.Code, offset: Int?)

    var description: String {
        switch self {
        case .line(let s): "line(\(s.debugDescription))"
        case .error(let c, let o): "error(\(c), at: \(o.map(String.init) ?? "-"))"
        }
    }
}

func frameAll(_ bytes: [UInt8], feeding: Feeding, limit: Int = 512) -> [Framed] {
    var framer = LineFramer(maximumLineLength: limit)
    var out: [Framed] = []
    for segment in feeding.segments(bytes) {
        framer.append(segment)
        while true {
            do {
                guard let line = try framer.next() else { break }
                out.append(.line(String(decoding: line, as: UTF8.self)))
            } catch {
                out.append(.error(error.code, offset: error.offset))
            }
        }
    }
    return out
}
