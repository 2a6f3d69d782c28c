import Foundation
import Synchronization

/// CEL's standard functions used by routing rules: checked by name and arity at compile time,
/// dispatched on argument types at evaluation time.
enum Functions {
    /// Allowed arities: (global, receiver-style).
    private static let signatures: [String: (global: Set<Int>, member: Set<Int>)] = [
        "size": ([1], [0]),
        "contains": ([], [1]), "startsWith": ([], [1]), "endsWith": ([], [1]),
        "matches": ([2], [1]),
        "int": ([1], []), "uint": ([1], []), "double": ([1], []), "string": ([1], []), "bytes": ([1], []),
        "bool": ([1], []), "type": ([1], []), "dyn": ([1], []),
        "timestamp": ([1], []), "duration": ([1], []),
        "getFullYear": ([], [0, 1]), "getMonth": ([], [0, 1]), "getDate": ([], [0, 1]), "getDayOfMonth": ([], [0, 1]),
        "getDayOfWeek": ([], [0, 1]), "getDayOfYear": ([], [0, 1]), "getHours": ([], [0, 1]), "getMinutes": ([], [0, 1]),
        "getSeconds": ([], [0, 1]), "getMilliseconds": ([], [0, 1]),
        "lowerAscii": ([], [0]), "upperAscii": ([], [0]),
    ]

    static func check(_ name: String, receiver: Bool, arity: Int, column: Int) throws(CELError) {
        guard let sig = signatures[name] else { throw CELError("undeclared reference to function '\(name)'", column: column) }
        let allowed = receiver ? sig.member : sig.global
        guard allowed.contains(arity) else {
            throw CELError("no matching overload for '\(name)' with \(arity) argument\(arity == 1 ? "" : "s")\(receiver ? " on a receiver" : "")", column: column)
        }
    }

    static func call(_ function: Function, receiver: Bool, _ a: [CELValue], column: Int) throws(CELError) -> CELValue {
        let name = function.rawValue
        func noOverload() -> CELError {
            CELError("no matching overload for '\(name)' on (\(a.map(\.typeName).joined(separator: ", ")))", column: column)
        }
        switch (function, a.count) {
        case (.size, 1):
            switch a[0] {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .bytes(let b): return .int(Int64(b.count))
            case .list(let l): return .int(Int64(l.count))
            case .map(let m): return .int(Int64(m.count))
            default: throw noOverload()
            }
        case (.contains, 2), (.startsWith, 2), (.endsWith, 2):
            guard case .string(let s) = a[0], case .string(let t) = a[1] else { throw noOverload() }
            return .bool(stringTest(function, s, t))
        case (.matches, 2):
            guard case .string(let s) = a[0], case .string(let pattern) = a[1] else { throw noOverload() }
            // RE2 (cel-go) accepts the empty pattern, which matches every string; ICU refuses it.
            if pattern.isEmpty { return .bool(true) }
            let regex = try RegexCache.shared.regex(pattern, column: column)
            return .bool(regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil)
        case (.lowerAscii, 1), (.upperAscii, 1):
            guard case .string(let s) = a[0] else { throw noOverload() }
            let mapped = s.unicodeScalars.map { c -> Unicode.Scalar in
                guard c.isASCII else { return c }
                if function == .lowerAscii, ("A"..."Z").contains(c) { return Unicode.Scalar(c.value + 32)! }
                if function == .upperAscii, ("a"..."z").contains(c) { return Unicode.Scalar(c.value - 32)! }
                return c
            }
            return .string(String(String.UnicodeScalarView(mapped)))
        case (.dyn, 1): return a[0]
        case (.type, 1): return .type(a[0].typeName)
        case (.int, 1), (.uint, 1), (.double, 1), (.string, 1), (.bytes, 1), (.bool, 1):
            return try Conversions.convert(name, a[0], column: column)
        case (.timestamp, 1):
            switch a[0] {
            case .string(let s):
                guard let (secs, nanos) = Time.parseTimestamp(s) else { throw CELError("invalid timestamp '\(s)'", column: column) }
                return .timestamp(seconds: secs, nanos: nanos)
            case .int(let i): return .timestamp(seconds: i, nanos: 0)
            case .timestamp: return a[0]
            default: throw noOverload()
            }
        case (.duration, 1):
            switch a[0] {
            case .string(let s):
                guard let n = Time.parseDuration(s) else { throw CELError("invalid duration '\(s)'", column: column) }
                return .duration(nanos: n)
            case .duration: return a[0]
            default: throw noOverload()
            }
        default:
            if name.hasPrefix("get") { return try Time.accessor(name, a, column: column) }
            throw noOverload()
        }
    }
}

/// `startsWith`, `endsWith`, `contains` on code points (UTF-8 bytes compare the same way),
/// not on Swift's grapheme clusters.
func stringTest(_ function: Function, _ s: String, _ t: String) -> Bool {
    switch function {
    case .startsWith: return s.utf8.starts(with: t.utf8)
    case .endsWith: return s.utf8.reversed().starts(with: t.utf8.reversed())
    default:
        if t.isEmpty { return true }
        let hay = Array(s.utf8), needle = Array(t.utf8)
        guard needle.count <= hay.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// Compiled regular expressions, shared (NSRegularExpression is immutable and thread-safe).
final class RegexCache: Sendable {
    static let shared = RegexCache()
    private let cache = Mutex<[String: NSRegularExpressionBox]>([:])

    func regex(_ pattern: String, column: Int) throws(CELError) -> NSRegularExpression {
        if let r = cache.withLock({ $0[pattern] }) { return r.regex }
        guard let r = try? NSRegularExpression(pattern: pattern) else {
            throw CELError("invalid regular expression '\(pattern)'", column: column)
        }
        cache.withLock { if $0.count < 1024 { $0[pattern] = NSRegularExpressionBox(regex: r) } }
        return r
    }
}

struct NSRegularExpressionBox: @unchecked Sendable { let regex: NSRegularExpression }
