/// Prints values in CEL literal syntax (what `courier eval` shows).
enum Literal {
    static func format(_ v: CELValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .uint(let u): return "\(u)u"
        case .double(let d): return goDouble(d, literal: true)
        case .string(let s): return quote(s)
        case .bytes(let b):
            return "b\"" + b.map { byte -> String in
                if byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C { return String(UnicodeScalar(byte)) }
                let hex = String(byte, radix: 16)
                return "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }.joined() + "\""
        case .list(let items): return "[" + items.map(format).joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.entries.map { "\(format($0.0)): \(format($0.1))" }.joined(separator: ", ") + "}"
        case .timestamp(let s, let n): return "timestamp(\(quote(Time.format(seconds: s, nanos: n))))"
        case .duration(let n): return "duration(\(quote(Time.formatDuration(n))))"
        case .type(let t): return t
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\x%02x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    /// Doubles as CEL prints them: always with a fraction or exponent in literal form.
    static func goDouble(_ d: Double, literal: Bool = false) -> String {
        if d.isNaN { return literal ? "double(\"NaN\")" : "NaN" }
        if d.isInfinite { return literal ? "double(\"\(d < 0 ? "-" : "")Infinity\")" : (d < 0 ? "-Infinity" : "+Inf") }
        if d == d.rounded() && abs(d) < 1e21 { return literal ? String(format: "%.1f", d) : String(Int64(exactly: d).map(String.init) ?? "\(d)") }
        return "\(d)"
    }
}

import Foundation
