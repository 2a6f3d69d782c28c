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

    /// Parses a `traceparent` value (`00-<trace>-<span>-<flags>`, later versions may append
    /// `-…`); `nil` when invalid. Works on the bytes: it runs for every delivery.
    public init?(traceparent: String, traceState: String = "") {
        var value = traceparent
        guard let (trace, span, flags) = value.withUTF8({ Self.parse($0) }) else { return nil }
        self.traceID = trace
        self.spanID = span
        self.flags = flags
        self.traceState = traceState
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> (String, String, String)? {
        let dash = UInt8(ascii: "-")
        guard b.count >= 55, b[2] == dash, b[35] == dash, b[52] == dash, b.count == 55 || b[55] == dash else { return nil }
        for i in 0..<55 where i != 2 && i != 35 && i != 52 {
            guard Self.isHexByte(b[i]) else { return nil }
        }
        guard !(lower(b[0]) == UInt8(ascii: "f") && lower(b[1]) == UInt8(ascii: "f")),
              b[3..<35].contains(where: { $0 != UInt8(ascii: "0") }),
              b[36..<52].contains(where: { $0 != UInt8(ascii: "0") }) else { return nil }
        func text(_ range: Range<Int>) -> String {
            String(unsafeUninitializedCapacity: range.count) { out in
                for (k, i) in range.enumerated() { out[k] = lower(b[i]) }
                return range.count
            }
        }
        return (text(3..<35), text(36..<52), text(53..<55))
    }

    @inline(__always) static func isHexByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x46 ? c + 0x20 : c }

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

    static func randomHex(bytes: Int) -> String {
        var rng = IdentifierRandom()
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes * 2) { out in
            digits.withUTF8Buffer { hex in
                var written = 0
                while written < bytes * 2 {
                    var word = rng.next() as UInt64
                    for _ in 0..<min(8, bytes - written / 2) {
                        let byte = UInt8(truncatingIfNeeded: word)
                        word >>= 8
                        out[written] = hex[Int(byte >> 4)]
                        out[written + 1] = hex[Int(byte & 0xF)]
                        written += 2
                    }
                }
            }
            return bytes * 2
        }
    }
}
