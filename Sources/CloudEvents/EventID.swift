/// Random identifiers in the lowercase UUIDv4 form that Dapr uses for CloudEvent ids.
public enum EventID {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A new random UUIDv4 string, e.g. `1b4e28ba-2fa1-41d2-883f-0016d3cca427`.
    public static func uuid() -> String {
        var rng = IdentifierRandom()
        var hi = rng.next() as UInt64
        var lo = rng.next() as UInt64
        hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // variant 10
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var i = 0
            func put(_ word: UInt64, _ shift: Int, _ nibbles: Int) {
                for n in stride(from: nibbles - 1, through: 0, by: -1) {
                    buffer[i] = hex[Int((word >> UInt64(shift + n * 4)) & 0xF)]
                    i += 1
                }
            }
            put(hi, 32, 8); buffer[i] = 0x2D; i += 1
            put(hi, 16, 4); buffer[i] = 0x2D; i += 1
            put(hi, 0, 4); buffer[i] = 0x2D; i += 1
            put(lo, 48, 4); buffer[i] = 0x2D; i += 1
            put(lo, 0, 12)
            return 36
        }
    }
}
