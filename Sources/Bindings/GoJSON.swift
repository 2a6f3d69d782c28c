import CloudEvents

/// Re-serialises a JSON value the way Dapr's HTTP output binding API does (spec §9.1): the
/// request's `data` is decoded into a Go `interface{}` and marshalled again, so objects come out
/// with sorted keys, numbers as Go prints a float64 (`1`, `2.5`, `1e+21`, `1e-07`), strings with
/// `<`, `>`, `&`, U+2028 and U+2029 escaped, and everything compact.
public enum GoJSON {
    public static func marshal(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        write(value, into: &out)
        return out
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: formatFloat(Double(text) ?? 0).utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(fields[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Go's `encoding/json` string escaping (HTML-safe).
    static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20, 0x3C, 0x3E, 0x26, 0x2028, 0x2029:
                let v = scalar.value
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), hex[Int(v >> 12 & 0xF)], hex[Int(v >> 8 & 0xF)], hex[Int(v >> 4 & 0xF)], hex[Int(v & 0xF)]])
            default: out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `strconv.FormatFloat(f, 'f' or 'e', -1, 64)` as `encoding/json` chooses between them.
    static func formatFloat(_ f: Double) -> String {
        guard f.isFinite else { return "0" }
        if f == 0 { return f.sign == .minus ? "-0" : "0" }
        // Shortest round-trip digits and decimal exponent from Swift's own formatting.
        let (negative, digits, exponent) = decompose(f)
        let magnitude = abs(f)
        var out = negative ? "-" : ""
        if magnitude < 1e-6 || magnitude >= 1e21 {
            out += String(digits.first!)
            if digits.count > 1 { out += "." + digits.dropFirst() }
            let e = exponent - 1
            out += e < 0 ? "e-" : "e+"
            let absE = abs(e)
            out += absE < 10 ? "0\(absE)" : "\(absE)"
            return out
        }
        // Fixed notation: `exponent` digits before the point.
        if exponent <= 0 {
            out += "0." + String(repeating: "0", count: -exponent) + digits
        } else if exponent >= digits.count {
            out += digits + String(repeating: "0", count: exponent - digits.count)
        } else {
            let i = digits.index(digits.startIndex, offsetBy: exponent)
            out += digits[..<i] + "." + digits[i...]
        }
        return out
    }

    /// `f` = 0.d1d2d3… × 10^exponent with the shortest digits that round-trip.
    static func decompose(_ f: Double) -> (negative: Bool, digits: String, exponent: Int) {
        let text = "\(abs(f))"  // e.g. "123.45", "1e-07", "1.5e+21"
        var mantissa = Substring(text)
        var exp10 = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp10 = Int(text[text.index(after: e)...]) ?? 0
            mantissa = text[..<e]
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        var fracPart = parts.count > 1 ? String(parts[1]) : ""
        while fracPart.hasSuffix("0") { fracPart.removeLast() }
        var digits = intPart + fracPart
        var exponent = intPart.count + exp10
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        return (f.sign == .minus, digits, exponent)
    }
}
