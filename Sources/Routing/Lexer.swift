/// Splits a CEL expression into tokens (google/cel-spec `langdef.md`, lexical structure).
struct Lexer {
    private let chars: [UInt8]
    private var i = 0

    init(_ text: String) {
        chars = Array(text.utf8)
    }

    static func tokens(_ text: String) throws(CELError) -> [Token] {
        var lexer = Lexer(text)
        var out: [Token] = []
        while true {
            let t = try lexer.next()
            out.append(t)
            if t.kind == .end { return out }
        }
    }

    private func peek(_ offset: Int = 0) -> UInt8? { i + offset < chars.count ? chars[i + offset] : nil }

    private static let operators: [String] = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%",
                                              "?", ":", ".", ",", "(", ")", "[", "]", "{", "}"]

    mutating func next() throws(CELError) -> Token {
        skipSpaceAndComments()
        let column = i + 1
        guard let c = peek() else { return Token(kind: .end, column: column) }
        // Strings and bytes, with optional r/R and b/B prefixes.
        if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { return Token(kind: .string(try string(raw: false)), column: column) }
        if isLetter(c) {
            var j = i
            var raw = false, bytes = false
            while let p = j < chars.count ? chars[j] : nil, j - i < 2, p == UInt8(ascii: "r") || p == UInt8(ascii: "R") || p == UInt8(ascii: "b") || p == UInt8(ascii: "B") {
                if p == UInt8(ascii: "r") || p == UInt8(ascii: "R") { raw = true } else { bytes = true }
                j += 1
            }
            if j > i, j < chars.count, chars[j] == UInt8(ascii: "\"") || chars[j] == UInt8(ascii: "'") {
                i = j
                if bytes { return Token(kind: .bytes(try byteString(raw: raw)), column: column) }
                return Token(kind: .string(try string(raw: raw)), column: column)
            }
            let start = i
            while let p = peek(), isLetter(p) || isDigit(p) { i += 1 }
            return Token(kind: .ident(String(decoding: chars[start..<i], as: UTF8.self)), column: column)
        }
        if c == UInt8(ascii: "`") { return Token(kind: .quotedIdent(try quotedIdentifier(column)), column: column) }
        if isDigit(c) || (c == UInt8(ascii: ".") && peek(1).map(isDigit) == true) { return try number(column) }
        for op in Self.operators where matches(op) {
            i += op.utf8.count
            return Token(kind: .op(op), column: column)
        }
        throw CELError("unexpected character '\(Character(Unicode.Scalar(c)))'", column: column)
    }

    /// `` `name` ``: one or more of letters, digits, `_`, `.`, `-`, `/` and space (cel-spec's QUOTED_IDENT).
    private mutating func quotedIdentifier(_ column: Int) throws(CELError) -> String {
        i += 1
        let start = i
        while let p = peek(), p != UInt8(ascii: "`") {
            guard isLetter(p) || isDigit(p) || p == UInt8(ascii: ".") || p == UInt8(ascii: "-") || p == UInt8(ascii: "/") || p == UInt8(ascii: " ") else {
                throw CELError("invalid character in a quoted field name", column: i + 1)
            }
            i += 1
        }
        guard peek() == UInt8(ascii: "`"), i > start else { throw CELError("unterminated or empty quoted field name", column: column) }
        let name = String(decoding: chars[start..<i], as: UTF8.self)
        i += 1
        return name
    }

    private func matches(_ op: String) -> Bool {
        for (k, b) in op.utf8.enumerated() where peek(k) != b { return false }
        return true
    }

    private mutating func skipSpaceAndComments() {
        while let c = peek() {
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { i += 1; continue }
            if c == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/") {
                while let d = peek(), d != 0x0A { i += 1 }
                continue
            }
            return
        }
    }

    private func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_") }
    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) }

    private mutating func number(_ column: Int) throws(CELError) -> Token {
        let start = i
        if peek() == UInt8(ascii: "0"), peek(1) == UInt8(ascii: "x") || peek(1) == UInt8(ascii: "X") {
            i += 2
            let digitsStart = i
            while let p = peek(), isHex(p) { i += 1 }
            let text = String(decoding: chars[digitsStart..<i], as: UTF8.self)
            if peek() == UInt8(ascii: "u") || peek() == UInt8(ascii: "U") {
                i += 1
                guard let v = UInt64(text, radix: 16) else { throw CELError("invalid uint literal", column: column) }
                return Token(kind: .uint(v), column: column)
            }
            guard let v = Int64(text, radix: 16) else { throw CELError("int literal out of range", column: column) }
            return Token(kind: .int(v), column: column)
        }
        var isDouble = false
        while let p = peek(), isDigit(p) { i += 1 }
        if peek() == UInt8(ascii: "."), peek(1).map(isDigit) == true {
            isDouble = true
            i += 1
            while let p = peek(), isDigit(p) { i += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            var j = i + 1
            if j < chars.count, chars[j] == UInt8(ascii: "+") || chars[j] == UInt8(ascii: "-") { j += 1 }
            if j < chars.count, isDigit(chars[j]) {
                isDouble = true
                i = j
                while let p = peek(), isDigit(p) { i += 1 }
            }
        }
        let text = String(decoding: chars[start..<i], as: UTF8.self)
        if isDouble {
            guard let v = Double(text) else { throw CELError("invalid double literal", column: column) }
            return Token(kind: .double(v), column: column)
        }
        if peek() == UInt8(ascii: "u") || peek() == UInt8(ascii: "U") {
            i += 1
            guard let v = UInt64(text) else { throw CELError("uint literal out of range", column: column) }
            return Token(kind: .uint(v), column: column)
        }
        guard let v = Int64(text) else {
            // -9223372036854775808 arrives as unary minus on 9223372036854775808.
            if text == "9223372036854775808" { return Token(kind: .intMinMagnitude, column: column) }
            throw CELError("int literal out of range", column: column)
        }
        return Token(kind: .int(v), column: column)
    }

    /// Reads a quoted literal's raw bytes (handling triple quotes); escapes are decoded by `decode`.
    private mutating func quoted(raw: Bool) throws(CELError) -> [Piece] {
        let column = i + 1
        let quote = chars[i]
        let triple = peek(1) == quote && peek(2) == quote
        i += triple ? 3 : 1
        var out: [Piece] = []
        while true {
            guard let c = peek() else { throw CELError("unterminated string literal", column: column) }
            if c == quote {
                if !triple { i += 1; return out }
                if peek(1) == quote && peek(2) == quote { i += 3; return out }
            }
            if !triple && (c == 0x0A || c == 0x0D) { throw CELError("newline in string literal", column: column) }
            if c == UInt8(ascii: "\\") && !raw {
                i += 1
                out.append(contentsOf: try escape(column))
                continue
            }
            // Collect a UTF-8 sequence as one scalar.
            let len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
            let end = min(i + len, chars.count)
            let scalar = String(decoding: chars[i..<end], as: UTF8.self).unicodeScalars.first?.value ?? 0xFFFD
            out.append(.scalar(scalar))
            i = end
        }
    }

    /// One decoded character of a literal: a Unicode scalar, or a raw byte from `\x` / octal escapes.
    enum Piece { case scalar(UInt32), byte(UInt8) }

    private mutating func escape(_ column: Int) throws(CELError) -> [Piece] {
        guard let e = peek() else { throw CELError("unterminated escape", column: column) }
        i += 1
        switch e {
        case UInt8(ascii: "n"): return [.scalar(0x0A)]
        case UInt8(ascii: "t"): return [.scalar(0x09)]
        case UInt8(ascii: "r"): return [.scalar(0x0D)]
        case UInt8(ascii: "a"): return [.scalar(0x07)]
        case UInt8(ascii: "b"): return [.scalar(0x08)]
        case UInt8(ascii: "f"): return [.scalar(0x0C)]
        case UInt8(ascii: "v"): return [.scalar(0x0B)]
        case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"), UInt8(ascii: "?"):
            return [.scalar(UInt32(e))]
        case UInt8(ascii: "x"), UInt8(ascii: "X"):
            return [.byte(UInt8(try hexDigits(2, column)))]
        case UInt8(ascii: "u"):
            let v = try hexDigits(4, column)
            guard !(0xD800...0xDFFF).contains(v) else { throw CELError("invalid unicode escape", column: column) }
            return [.scalar(v)]
        case UInt8(ascii: "U"):
            let v = try hexDigits(8, column)
            guard v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else { throw CELError("invalid unicode escape", column: column) }
            return [.scalar(v)]
        case UInt8(ascii: "0")...UInt8(ascii: "3"):
            guard let d1 = peek(), let d2 = peek(1), (0x30...0x37).contains(d1), (0x30...0x37).contains(d2) else {
                throw CELError("invalid octal escape", column: column)
            }
            i += 2
            return [.byte(UInt8(truncatingIfNeeded: UInt32(e - 0x30) << 6 | UInt32(d1 - 0x30) << 3 | UInt32(d2 - 0x30)))]
        default:
            throw CELError("invalid escape sequence '\\\(Character(Unicode.Scalar(e)))'", column: column)
        }
    }

    private mutating func hexDigits(_ n: Int, _ column: Int) throws(CELError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<n {
            guard let c = peek(), isHex(c) else { throw CELError("invalid hex escape", column: column) }
            let d: UInt8 = isDigit(c) ? c - 0x30 : (c | 0x20) - 0x61 + 10
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func string(raw: Bool) throws(CELError) -> String {
        var out = String.UnicodeScalarView()
        for piece in try quoted(raw: raw) {
            switch piece {
            case .scalar(let v): out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            case .byte(let b): out.append(Unicode.Scalar(b))
            }
        }
        return String(out)
    }

    private mutating func byteString(raw: Bool) throws(CELError) -> [UInt8] {
        var out: [UInt8] = []
        for piece in try quoted(raw: raw) {
            switch piece {
            case .byte(let b): out.append(b)
            case .scalar(let v): out.append(contentsOf: String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8)
            }
        }
        return out
    }
}
