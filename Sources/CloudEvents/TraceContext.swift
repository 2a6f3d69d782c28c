/// A W3C Trace Context (`traceparent` / `tracestate`), as carried in CloudEvent extensions
/// and HTTP headers.
public struct TraceContext: Sendable, Equatable {
    /// 32 lowercase hex characters.
    public var traceID: String
    /// 16 lowercase hex characters.
    public var spanID: String
    /// Two hex characters, e.g. `01` for sampled.
    public var flags: String
    /// The vendor `tracestate` list, possibly empty.
    public var traceState: String

    public init(traceID: String, spanID: String, flags: String, traceState: String = "") {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
    }

    /// Parses a `traceparent` value (`00-<trace>-<span>-<flags>`); `nil` when invalid.
    public init?(traceparent: String, traceState: String = "") {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4,
              parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
              parts[1].count == 32, Self.isHex(parts[1]), parts[1] != String(repeating: "0", count: 32),
              parts[2].count == 16, Self.isHex(parts[2]), parts[2] != String(repeating: "0", count: 16),
              parts[3].count == 2, Self.isHex(parts[3])
        else { return nil }
        self.traceID = parts[1].lowercased()
        self.spanID = parts[2].lowercased()
        self.flags = parts[3].lowercased()
        self.traceState = traceState
    }

    /// The `traceparent` header value.
    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }

    /// A child span: same trace and flags, a new random span id.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8), flags: flags, traceState: traceState)
    }

    /// A new sampled root trace.
    public static func newRoot() -> TraceContext {
        TraceContext(traceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), flags: "01")
    }

    static func isHex(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }
    }

    static func randomHex(bytes: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        var out = ""
        out.reserveCapacity(bytes * 2)
        var remaining = bytes
        while remaining > 0 {
            var word = rng.next() as UInt64
            for _ in 0..<min(8, remaining) {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                out.append(Hex.digit(byte >> 4))
                out.append(Hex.digit(byte & 0xF))
            }
            remaining -= 8
        }
        return out
    }
}

enum Hex {
    static let digits: [Character] = Array("0123456789abcdef")
    @inline(__always) static func digit(_ nibble: UInt8) -> Character { digits[Int(nibble)] }
}
