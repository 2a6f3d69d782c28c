/// A lexical token of a CEL expression.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case int(Int64)
        case uint(UInt64)
        /// `9223372036854775808` without a suffix: valid only after a unary minus (int64's minimum).
        case intMinMagnitude
        case double(Double)
        case string(String)
        case bytes([UInt8])
        case ident(String)
        /// A backtick-quoted field name (`` a.`content-type` ``): letters, digits, `_ . - /` and spaces.
        case quotedIdent(String)
        case op(String)
        case end
    }

    var kind: Kind
    /// 1-based column of the first character.
    var column: Int
}
