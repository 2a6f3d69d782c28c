import Foundation

/// A strict RFC 8259 JSON parser over bytes. It builds a `JSONValue` tree, or only validates
/// (`validate`) without allocating, which the publish hot path uses for `application/json` data.
public struct JSONParser: ~Copyable {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var index: Int = 0
    private let maxDepth = 512

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Parses a whole document.
    public static func parse<C: ContiguousBytes>(_ data: C) throws(JSONError) -> JSONValue {
        let result: Result<JSONValue, JSONError> = data.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            do throws(JSONError) {
                parser.skipWhitespace()
                let value = try parser.parseValue(depth: 0)
                parser.skipWhitespace()
                guard parser.index == raw.count else {
                    return .failure(JSONError(offset: parser.index, reason: "unexpected trailing data"))
                }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The value at `path` (object keys from the top), parsing only that value and skipping the
    /// rest unbuilt; `nil` when a key is missing or a step is not an object. Bytes after the
    /// value are not checked.
    public static func value<C: ContiguousBytes>(at path: [String], in data: C) throws(JSONError) -> JSONValue? {
        let result: Result<JSONValue?, JSONError> = data.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            do throws(JSONError) {
                return .success(try parser.descend(path[...]))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    mutating func descend(_ path: ArraySlice<String>) throws(JSONError) -> JSONValue? {
        skipWhitespace()
        guard let wanted = path.first else { return try parseValue(depth: 0) }
        guard !atEnd, peek == UInt8(ascii: "{") else { return nil }
        index += 1
        skipWhitespace()
        if !atEnd, peek == UInt8(ascii: "}") { return nil }
        while true {
            skipWhitespace()
            guard !atEnd, peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            if key == wanted { return try descend(path.dropFirst()) }
            skipWhitespace()
            try skipValue(depth: 1)
            skipWhitespace()
            guard !atEnd else { throw fail("unexpected end of input") }
            if peek == UInt8(ascii: ",") { index += 1; continue }
            if peek == UInt8(ascii: "}") { return nil }
            throw fail("expected ',' or '}'")
        }
    }

    /// Parses a string of JSON text.
    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// True when `data` is exactly one valid JSON document (surrounding whitespace allowed).
    public static func isValid<C: ContiguousBytes>(_ data: C) -> Bool {
        data.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            do {
                parser.skipWhitespace()
                try parser.skipValue(depth: 0)
                parser.skipWhitespace()
                return parser.index == raw.count
            } catch {
                return false
            }
        }
    }

    // MARK: - Scanning

    @inline(__always) var atEnd: Bool { index >= bytes.count }
    @inline(__always) var peek: UInt8 { bytes[index] }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func fail(_ reason: String) -> JSONError { JSONError(offset: index, reason: reason) }

    mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard !atEnd, peek == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        index += 1
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        let ptr = word.utf8Start
        for i in 0..<count where bytes[index + i] != ptr[i] {
            throw fail("invalid literal")
        }
        index += count
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < maxDepth else { throw fail("nesting too deep") }
        guard !atEnd else { throw fail("unexpected end of input") }
        switch peek {
        case UInt8(ascii: "{"):
            index += 1
            var object: [String: JSONValue] = [:]
            skipWhitespace()
            if !atEnd, peek == UInt8(ascii: "}") { index += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard !atEnd, peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try parseString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                object[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of input") }
                if peek == UInt8(ascii: ",") { index += 1; continue }
                if peek == UInt8(ascii: "}") { index += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            var array: [JSONValue] = []
            skipWhitespace()
            if !atEnd, peek == UInt8(ascii: "]") { index += 1; return .array(array) }
            while true {
                skipWhitespace()
                array.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of input") }
                if peek == UInt8(ascii: ",") { index += 1; continue }
                if peek == UInt8(ascii: "]") { index += 1; return .array(array) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            let start = index
            try skipNumber()
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
        }
    }

    mutating func skipValue(depth: Int) throws(JSONError) {
        guard depth < maxDepth else { throw fail("nesting too deep") }
        guard !atEnd else { throw fail("unexpected end of input") }
        switch peek {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if !atEnd, peek == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard !atEnd, peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                try skipString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of input") }
                if peek == UInt8(ascii: ",") { index += 1; continue }
                if peek == UInt8(ascii: "}") { index += 1; return }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if !atEnd, peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of input") }
                if peek == UInt8(ascii: ",") { index += 1; continue }
                if peek == UInt8(ascii: "]") { index += 1; return }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try skipNumber()
        }
    }

    mutating func skipNumber() throws(JSONError) {
        let start = index
        if !atEnd, peek == UInt8(ascii: "-") { index += 1 }
        guard !atEnd else { throw fail("invalid number") }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else if peek >= UInt8(ascii: "1") && peek <= UInt8(ascii: "9") {
            while !atEnd, peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9") { index += 1 }
        } else {
            index = start
            throw fail("unexpected character")
        }
        if !atEnd, peek == UInt8(ascii: ".") {
            index += 1
            let digits = index
            while !atEnd, peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw fail("invalid number") }
        }
        if !atEnd, peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if !atEnd, peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while !atEnd, peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw fail("invalid number") }
        }
    }

    /// Skips a string, validating escapes and rejecting raw control characters.
    mutating func skipString() throws(JSONError) {
        index += 1  // opening quote
        while index < bytes.count {
            // Eight bytes at a time while none of them ends the string, escapes or is a control.
            while index &+ 8 <= bytes.count, !Self.hasSpecialByte(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index &+= 8
            }
            guard index < bytes.count else { break }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; return }
            if b < 0x20 { throw fail("control character in string") }
            if b == UInt8(ascii: "\\") {
                index += 1
                guard !atEnd else { break }
                switch peek {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    _ = try hex4()
                default:
                    throw fail("invalid escape")
                }
                continue
            }
            index += 1
        }
        throw fail("unterminated string")
    }

    /// True when one of the eight bytes of `word` is a quote, a backslash or below 0x20 (the
    /// classic "has zero byte" bit trick; exact as a yes/no for the whole word).
    @inline(__always) static func hasSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let below20 = (word &- ones &* 0x20) & ~word & highs
        return (below20 | hasZero(word ^ (ones &* 0x22)) | hasZero(word ^ (ones &* 0x5C))) != 0
    }

    mutating func hex4() throws(JSONError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw fail("invalid unicode escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail("invalid unicode escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    mutating func parseString() throws(JSONError) -> String {
        let start = index + 1
        // Fast path: no escapes.
        var i = start
        while i < bytes.count {
            while i &+ 8 <= bytes.count, !Self.hasSpecialByte(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i &+= 8
            }
            guard i < bytes.count else { break }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                index = i + 1
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            i += 1
        }
        index = start
        var out: [UInt8] = []
        out.reserveCapacity(i - start + 16)
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw fail("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard !atEnd else { break }
            let e = peek
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by a low one; otherwise U+FFFD.
                    if index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = UInt32(try hex4())
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            appendUTF8(0xFFFD, to: &out)
                            scalar = low
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(scalar) {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar, to: &out)
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
        out.append(contentsOf: String(Character(s)).utf8)
    }
}
