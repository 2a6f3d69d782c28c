import CloudEvents
import Yams

/// Typed access to a Yams node that reports problems with the file and line they come from.
struct YAMLNode {
    let node: Node
    let file: String

    var line: Int { node.mark?.line ?? 1 }
    var location: SourceLocation { SourceLocation(file: file, line: line) }

    func problem(_ message: String) -> ResourceProblem { ResourceProblem(location, message) }

    subscript(key: String) -> YAMLNode? {
        guard case .mapping(let mapping) = node else { return nil }
        for (k, v) in mapping where k.string == key { return YAMLNode(node: v, file: file) }
        return nil
    }

    /// Case-insensitive key lookup (Dapr's Go decoders match field names that way).
    func field(_ key: String) -> YAMLNode? {
        guard case .mapping(let mapping) = node else { return nil }
        let lower = key.lowercased()
        for (k, v) in mapping where k.string?.lowercased() == lower { return YAMLNode(node: v, file: file) }
        return nil
    }

    var isNull: Bool {
        if case .scalar(let s) = node { return s.tag == .implicit && (s.string == "" || s.string == "~" || s.string == "null") && s.style == .plain }
        return false
    }

    /// A scalar as text; nil for mappings and sequences.
    var scalar: String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    func string(_ what: String) throws(ResourceProblem) -> String {
        guard let s = scalar else { throw problem("\(what) must be a string") }
        return s
    }

    func optionalString(_ key: String) throws(ResourceProblem) -> String? {
        guard let child = field(key), !child.isNull else { return nil }
        return try child.string(key)
    }

    func requiredString(_ key: String, in context: String) throws(ResourceProblem) -> String {
        guard let value = try optionalString(key), !value.isEmpty else {
            throw problem("\(context): '\(key)' is required")
        }
        return value
    }

    func bool(_ key: String) throws(ResourceProblem) -> Bool? {
        guard let child = field(key), !child.isNull else { return nil }
        switch child.scalar?.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw child.problem("'\(key)' must be true or false")
        }
    }

    func int(_ key: String) throws(ResourceProblem) -> Int? {
        guard let child = field(key), !child.isNull else { return nil }
        guard let text = child.scalar, let value = Int(text) else { throw child.problem("'\(key)' must be an integer") }
        return value
    }

    /// A Go duration such as `5s` or `500ms`, in seconds.
    func duration(_ key: String) throws(ResourceProblem) -> Double? {
        guard let child = field(key), !child.isNull else { return nil }
        guard let text = child.scalar, let seconds = GoDuration.parseSeconds(text) else {
            throw child.problem("'\(key)' must be a duration such as 5s or 500ms")
        }
        return seconds
    }

    var mappingEntries: [(String, YAMLNode)] {
        guard case .mapping(let mapping) = node else { return [] }
        return mapping.compactMap { k, v in k.string.map { ($0, YAMLNode(node: v, file: file)) } }
    }

    var isMapping: Bool { if case .mapping = node { return true } else { return false } }

    var sequenceItems: [YAMLNode]? {
        guard case .sequence(let seq) = node else { return nil }
        return seq.map { YAMLNode(node: $0, file: file) }
    }

    /// A list of strings (`scopes:`); a missing or null field is empty.
    func stringList(_ key: String) throws(ResourceProblem) -> [String] {
        guard let child = field(key), !child.isNull else { return [] }
        guard let items = child.sequenceItems else { throw child.problem("'\(key)' must be a list of strings") }
        var out: [String] = []
        for item in items { out.append(try item.string("each entry of '\(key)'")) }
        return out
    }

    /// A string-to-string map (`metadata:` of a subscription).
    func stringMap(_ key: String) throws(ResourceProblem) -> [String: String] {
        guard let child = field(key), !child.isNull else { return [:] }
        guard child.isMapping else { throw child.problem("'\(key)' must be a map of strings") }
        var out: [String: String] = [:]
        for (k, v) in child.mappingEntries {
            guard let s = v.scalar else { throw v.problem("'\(key).\(k)' must be a string") }
            out[k] = s
        }
        return out
    }
}
