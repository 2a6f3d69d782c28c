/// A Redis reply, copied out of hiredis' structures.
enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    var text: String? {
        switch self {
        case .string(let b): return String(decoding: b, as: UTF8.self)
        case .status(let s): return s
        default: return nil
        }
    }

    var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
