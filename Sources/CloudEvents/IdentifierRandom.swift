import Synchronization

/// The random source of event ids and trace ids: SplitMix64 over one atomic counter seeded from
/// the system generator at start. The system generator is a `getrandom` system call per 64 bits,
/// five of them per published event; this is an atomic add and a few multiplications. The ids
/// must be unique and unpredictable enough to never collide, not secret: SplitMix64 is a
/// bijection of the counter, so no value repeats within a process, and each process starts at a
/// random point.
struct IdentifierRandom: RandomNumberGenerator {
    private static let counter = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    mutating func next() -> UInt64 {
        var z = Self.counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
