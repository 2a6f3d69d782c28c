import Foundation

/// The type conversion functions `int`, `uint`, `double`, `string`, `bytes`, `bool`.
enum Conversions {
    static func convert(_ name: String, _ v: CELValue, column: Int) throws(CELError) -> CELValue {
        func fail(_ why: String = "") -> CELError {
            CELError(why.isEmpty ? "no matching overload for '\(name)' on '\(v.typeName)'" : why, column: column)
        }
        switch (name, v) {
        case ("int", .int): return v
        case ("int", .uint(let u)):
            guard u <= UInt64(Int64.max) else { throw fail("int overflow") }
            return .int(Int64(u))
        case ("int", .double(let d)):
            guard d.isFinite, d > -9_223_372_036_854_775_809.0, d < 9_223_372_036_854_775_808.0 else { throw fail("int overflow") }
            return .int(Int64(d.rounded(.towardZero)))
        case ("int", .string(let s)):
            guard let i = Int64(s) else { throw fail("cannot convert '\(s)' to int") }
            return .int(i)
        case ("int", .timestamp(let secs, _)): return .int(secs)
        case ("uint", .uint): return v
        case ("uint", .int(let i)):
            guard i >= 0 else { throw fail("uint overflow") }
            return .uint(UInt64(i))
        case ("uint", .double(let d)):
            guard d.isFinite, d > -1, d < 18_446_744_073_709_551_616.0 else { throw fail("uint overflow") }
            return .uint(UInt64(d.rounded(.towardZero)))
        case ("uint", .string(let s)):
            guard let u = UInt64(s) else { throw fail("cannot convert '\(s)' to uint") }
            return .uint(u)
        case ("double", .double): return v
        case ("double", .int(let i)): return .double(Double(i))
        case ("double", .uint(let u)): return .double(Double(u))
        case ("double", .string(let s)):
            guard let d = Double(s) else { throw fail("cannot convert '\(s)' to double") }
            return .double(d)
        case ("string", .string): return v
        case ("string", .int(let i)): return .string(String(i))
        case ("string", .uint(let u)): return .string(String(u))
        case ("string", .double(let d)): return .string(Literal.goDouble(d))
        case ("string", .bool(let b)): return .string(b ? "true" : "false")
        case ("string", .bytes(let b)):
            guard let s = String(validating: b, as: UTF8.self) else { throw fail("invalid UTF-8 in bytes") }
            return .string(s)
        case ("string", .timestamp(let s, let n)): return .string(Time.format(seconds: s, nanos: n))
        case ("string", .duration(let n)): return .string(Time.formatDuration(n))
        case ("bytes", .bytes): return v
        case ("bytes", .string(let s)): return .bytes(Array(s.utf8))
        case ("bool", .bool): return v
        case ("bool", .string(let s)):
            switch s {
            case "1", "t", "true", "TRUE", "True": return .bool(true)
            case "0", "f", "false", "FALSE", "False": return .bool(false)
            default: throw fail("cannot convert '\(s)' to bool")
            }
        default: throw fail()
        }
    }
}
