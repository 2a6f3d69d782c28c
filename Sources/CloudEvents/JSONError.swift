/// Why a byte sequence is not the JSON that was expected.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset where the problem was found.
    public var offset: Int
    /// A short human readable reason.
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
