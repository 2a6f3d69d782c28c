/// A CEL runtime value.
public enum CELValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list([CELValue])
    case map(CELMap)
    /// Seconds and nanoseconds since the Unix epoch, UTC.
    case timestamp(seconds: Int64, nanos: Int32)
    /// A signed span of time in nanoseconds.
    case duration(nanos: Int64)
    /// A type value, e.g. `int`, `string`, `map` (what `type(x)` returns).
    case type(String)

    /// The CEL type name.
    public var typeName: String {
        switch self {
        case .null: return "null_type"
        case .bool: return "bool"
        case .int: return "int"
        case .uint: return "uint"
        case .double: return "double"
        case .string: return "string"
        case .bytes: return "bytes"
        case .list: return "list"
        case .map: return "map"
        case .timestamp: return "google.protobuf.Timestamp"
        case .duration: return "google.protobuf.Duration"
        case .type: return "type"
        }
    }
}

/// A CEL map key: bool, int, uint or string (numeric keys that are equal compare equal).
public enum CELMapKey: Sendable, Hashable {
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)

    /// The key for a value, normalising numbers so `1`, `1u` and `1.0` find the same entry.
    public init?(_ value: CELValue) {
        switch value {
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .uint(let u): self = u <= UInt64(Int64.max) ? .int(Int64(u)) : .uint(u)
        case .string(let s): self = .string(s)
        case .double(let d):
            guard d == d.rounded(), let i = Int64(exactly: d) else { return nil }
            self = .int(i)
        default: return nil
        }
    }

    var value: CELValue {
        switch self {
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .uint(u)
        case .string(let s): return .string(s)
        }
    }
}

/// A CEL map that keeps insertion order for printing.
public struct CELMap: Sendable {
    public private(set) var keys: [CELMapKey] = []
    /// Original keys as written (so `1u` prints as `1u`).
    private var originals: [CELMapKey: CELValue] = [:]
    private var storage: [CELMapKey: CELValue] = [:]

    public init() {}

    public init(strings: [String: CELValue]) {
        keys.reserveCapacity(strings.count)
        storage.reserveCapacity(strings.count)
        for (k, v) in strings {
            let key = CELMapKey.string(k)
            keys.append(key)
            storage[key] = v
        }
    }

    public var count: Int { keys.count }

    public subscript(key: CELMapKey) -> CELValue? { storage[key] }

    /// Inserts; returns false when the key is already present.
    @discardableResult
    public mutating func insert(_ key: CELValue, _ value: CELValue) -> Bool {
        guard let k = CELMapKey(key), storage[k] == nil else { return false }
        keys.append(k)
        originals[k] = key
        storage[k] = value
        return true
    }

    /// Entries in insertion order, with keys as written.
    public var entries: [(CELValue, CELValue)] { keys.map { (originals[$0] ?? $0.value, storage[$0]!) } }
}
