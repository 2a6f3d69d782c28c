import CloudEvents
import Foundation

/// A metadata item's `secretKeyRef`: secret `name` in the component's `auth.secretStore`, and the
/// `key` inside it (the name again when omitted, as in Dapr).
public struct SecretKeyRef: Sendable, Equatable {
    public var name: String
    public var key: String

    public init(name: String, key: String?) {
        self.name = name
        self.key = key.flatMap { $0.isEmpty ? nil : $0 } ?? name
    }
}

/// The self-hosted secret stores Dapr ships, read once at load time to resolve `secretKeyRef`
/// items in other components (Courier has no secrets API of its own).
///
/// - `secretstores.local.file`: a JSON file (`secretsFile`); nested objects are flattened with
///   `nestedSeparator` (default `:`). With `multiValued: "true"` each top-level key is one secret
///   whose keys are the flattened entries below it; otherwise every flattened entry is a secret of
///   one key, its own name.
/// - `secretstores.local.env`: each environment variable is a secret of one key, its own name.
public enum SecretStore: Sendable {
    case file(secrets: [String: [String: String]])
    case environment([String: String])

    public static let types: Set<String> = ["secretstores.local.file", "secretstores.local.env"]

    /// Reads the store `component` describes; the message says what is wrong with it.
    public static func load(_ component: Component, environment: [String: String]) throws(ResourceProblem) -> SecretStore {
        if component.type == "secretstores.local.env" { return .environment(environment) }
        guard let path = component.metadata["secretsFile"], !path.isEmpty else {
            throw ResourceProblem(component.location, "secret store '\(component.name)': 'secretsFile' is required")
        }
        let fileLine = component.metadata.item("secretsFile")?.line ?? component.location.line
        let at = SourceLocation(file: component.location.file, line: fileLine)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ResourceProblem(at, "secret store '\(component.name)': cannot read secretsFile \(path)")
        }
        guard let root = (try? JSONParser.parse(data))?.objectValue else {
            throw ResourceProblem(at, "secret store '\(component.name)': secretsFile \(path) is not a JSON object")
        }
        let separator = component.metadata["nestedSeparator"].flatMap { $0.isEmpty ? nil : $0 } ?? ":"
        var secrets: [String: [String: String]] = [:]
        if component.metadata["multiValued"]?.lowercased() == "true" {
            for (name, value) in root {
                var entries: [String: String] = [:]
                if let nested = value.objectValue {
                    flatten(nested, prefix: "", separator: separator, into: &entries)
                } else {
                    entries[name] = scalar(value)
                }
                secrets[name] = entries
            }
        } else {
            var flat: [String: String] = [:]
            flatten(root, prefix: "", separator: separator, into: &flat)
            for (name, value) in flat { secrets[name] = [name: value] }
        }
        return .file(secrets: secrets)
    }

    /// The value `ref` points to, or nil when the secret or its key does not exist.
    public func value(of ref: SecretKeyRef) -> String? {
        switch self {
        case .file(let secrets): return secrets[ref.name]?[ref.key]
        case .environment(let variables): return ref.key == ref.name ? variables[ref.name] : nil
        }
    }

    private static func flatten(_ object: [String: JSONValue], prefix: String, separator: String, into out: inout [String: String]) {
        for (key, value) in object {
            let name = prefix.isEmpty ? key : prefix + separator + key
            if let nested = value.objectValue {
                flatten(nested, prefix: name, separator: separator, into: &out)
            } else {
                out[name] = scalar(value)
            }
        }
    }

    /// JSON scalars as Dapr's store returns them: strings as they are, others in JSON text.
    private static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let string): return string
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return ""
        default: return String(decoding: JSONWriter.serialize(value), as: UTF8.self)
        }
    }
}

extension ResourceLoader {
    /// Replaces every `secretKeyRef` item's value with the secret from its component's
    /// `auth.secretStore`; each one that cannot be resolved becomes a problem at its line.
    public func resolveSecrets(in set: inout ResourceSet) {
        var stores: [String: SecretStore] = [:]
        for component in set.components where SecretStore.types.contains(component.type) {
            if let item = component.metadata.items.first(where: { $0.secretKeyRef != nil }) {
                set.problems.append(ResourceProblem(SourceLocation(file: component.location.file, line: item.line),
                                                    "secret store '\(component.name)': metadata '\(item.name)' cannot itself come from a secretKeyRef"))
                continue
            }
            do throws(ResourceProblem) {
                stores[component.name] = try SecretStore.load(component, environment: environment)
            } catch {
                set.problems.append(error)
            }
        }
        for index in set.components.indices {
            let component = set.components[index]
            for (itemIndex, item) in component.metadata.items.enumerated() {
                guard let ref = item.secretKeyRef, !SecretStore.types.contains(component.type) else { continue }
                let at = SourceLocation(file: component.location.file, line: item.line)
                let prefix = "Component '\(component.name)': metadata '\(item.name)'"
                guard let storeName = component.secretStore else {
                    set.problems.append(ResourceProblem(at, "\(prefix) uses secretKeyRef, but the component names no auth.secretStore"))
                    continue
                }
                guard let store = stores[storeName] else {
                    set.problems.append(ResourceProblem(at, "\(prefix): secret store '\(storeName)' is not loaded (a Component of type \(SecretStore.types.sorted().joined(separator: " or ")))"))
                    continue
                }
                guard let value = store.value(of: ref) else {
                    set.problems.append(ResourceProblem(at, "\(prefix): secret '\(ref.name)' has no key '\(ref.key)' in secret store '\(storeName)'"))
                    continue
                }
                set.components[index].metadata.setValue(value, at: itemIndex)
            }
        }
        for index in set.apps.indices {
            let app = set.apps[index]
            for (field, token) in [("apiToken", app.apiToken), ("appToken", app.appToken)] {
                guard case .secret(let ref, let line)? = token else { continue }
                let at = SourceLocation(file: app.location.file, line: line)
                // `auth.secretStore`, or the one secret store there is.
                guard let storeName = app.secretStore ?? (stores.count == 1 ? stores.keys.first : nil), let store = stores[storeName] else {
                    set.problems.append(ResourceProblem(at, "App '\(app.id)': \(field) uses secretKeyRef, but "
                        + (app.secretStore.map { "secret store '\($0)' is not loaded" } ?? "no single secret store is loaded (name one in auth.secretStore)")))
                    continue
                }
                guard let value = store.value(of: ref), !value.isEmpty else {
                    set.problems.append(ResourceProblem(at, "App '\(app.id)': \(field): secret '\(ref.name)' has no key '\(ref.key)' in secret store '\(storeName)'"))
                    continue
                }
                if field == "apiToken" { set.apps[index].apiToken = .value(value) } else { set.apps[index].appToken = .value(value) }
            }
        }
    }
}
