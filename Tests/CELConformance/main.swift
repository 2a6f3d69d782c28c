import CloudEvents
import Foundation
import Routing

/// The evaluating half of `scripts/cel-conformance`: reads one JSON object per line,
/// `{"expr": "...", "bindings": {"name": TYPED}}`, and writes one per line back, `{"value": TYPED}`
/// or `{"error": "..."}`. TYPED is a one-key object naming the CEL type: `{"int64": "1"}`,
/// `{"uint64": "1"}`, `{"double": 1.5}` (or "NaN", "Infinity", "-Infinity"), `{"string": "s"}`,
/// `{"bytes": [0, 255]}`, `{"bool": true}`, `{"null": null}`, `{"list": [TYPED]}`,
/// `{"map": [[TYPED, TYPED]]}`, `{"type": "int"}`, `{"timestamp": [seconds, nanos]}`,
/// `{"duration": nanos}`.
while let line = readLine(strippingNewline: true) {
    guard !line.isEmpty else { continue }
    var answer: JSONValue
    do {
        guard case .object(let request) = try JSONParser.parse(line), case .string(let expr)? = request["expr"] else {
            throw CELError("bad request line")
        }
        var variables: [String: CELValue] = [:]
        if case .object(let bindings)? = request["bindings"] {
            for (name, typed) in bindings { variables[name] = try decode(typed) }
        }
        do throws(CELError) {
            answer = .object(["value": encode(try CELProgram(expr).evaluate(variables))])
        } catch {
            answer = .object(["error": .string(error.description)])
        }
    } catch {
        answer = .object(["error": .string("runner: \(error)")])
    }
    FileHandle.standardOutput.write(Data(JSONWriter.serialize(answer) + [0x0A]))
}

func encode(_ value: CELValue) -> JSONValue {
    switch value {
    case .null: return .object(["null": .null])
    case .bool(let b): return .object(["bool": .bool(b)])
    case .int(let i): return .object(["int64": .string(String(i))])
    case .uint(let u): return .object(["uint64": .string(String(u))])
    case .double(let d):
        if d.isNaN { return .object(["double": .string("NaN")]) }
        if d.isInfinite { return .object(["double": .string(d < 0 ? "-Infinity" : "Infinity")]) }
        return .object(["double": .number("\(d)")])
    case .string(let s): return .object(["string": .string(s)])
    case .bytes(let b): return .object(["bytes": .array(b.map { .number(String($0)) })])
    case .list(let items): return .object(["list": .array(items.map(encode))])
    case .map(let map): return .object(["map": .array(map.entries.map { .array([encode($0.0), encode($0.1)]) })])
    case .timestamp(let seconds, let nanos): return .object(["timestamp": .array([.number(String(seconds)), .number(String(nanos))])])
    case .duration(let nanos): return .object(["duration": .number(String(nanos))])
    case .type(let name): return .object(["type": .string(name)])
    }
}

func decode(_ typed: JSONValue) throws -> CELValue {
    guard case .object(let o) = typed, o.count == 1, let (kind, v) = o.first else { throw CELError("bad typed value") }
    switch (kind, v) {
    case ("null", _): return .null
    case ("bool", .bool(let b)): return .bool(b)
    case ("int64", .string(let s)): return .int(Int64(s) ?? 0)
    case ("uint64", .string(let s)): return .uint(UInt64(s) ?? 0)
    case ("double", .number(let n)): return .double(Double(n) ?? .nan)
    case ("double", .string(let s)): return .double(s == "NaN" ? .nan : s.hasPrefix("-") ? -.infinity : .infinity)
    case ("string", .string(let s)): return .string(s)
    case ("bytes", .array(let items)):
        return .bytes(items.compactMap { if case .number(let n) = $0 { UInt8(n) } else { nil } })
    case ("list", .array(let items)): return .list(try items.map(decode))
    case ("map", .array(let pairs)):
        var map = CELMap()
        for pair in pairs {
            guard case .array(let kv) = pair, kv.count == 2 else { throw CELError("bad map entry") }
            map.insert(try decode(kv[0]), try decode(kv[1]))
        }
        return .map(map)
    case ("type", .string(let s)): return .type(s)
    case ("timestamp", .array(let parts)) where parts.count == 2:
        guard case .number(let s) = parts[0], case .number(let n) = parts[1] else { throw CELError("bad timestamp") }
        return .timestamp(seconds: Int64(s) ?? 0, nanos: Int32(n) ?? 0)
    case ("duration", .number(let n)): return .duration(nanos: Int64(n) ?? 0)
    default: throw CELError("unsupported typed value \(kind)")
    }
}
