extension ResourceLoader {
    func parseComponent(_ doc: YAMLNode) throws(ResourceProblem) -> Component {
        guard let meta = doc.field("metadata"), meta.isMapping else { throw doc.problem("Component: 'metadata.name' is required") }
        let name = try meta.requiredString("name", in: "Component")
        guard let spec = doc.field("spec"), spec.isMapping else { throw doc.problem("Component '\(name)': 'spec' is required") }
        let type = try spec.requiredString("type", in: "Component '\(name)'")
        guard type.contains("."), !type.hasPrefix("."), !type.hasSuffix(".") else {
            throw (spec.field("type") ?? spec).problem("Component '\(name)': spec.type '\(type)' must look like <category>.<name>, e.g. pubsub.embedded")
        }
        if let known = isKnownComponentType, !known(type), !SecretStore.types.contains(type) {
            throw (spec.field("type") ?? spec).problem("Component '\(name)': unknown component type '\(type)'")
        }
        let version = try spec.optionalString("version") ?? "v1"
        var metadata = ComponentMetadata()
        var usesNamespace = false
        if let items = spec.field("metadata"), !items.isNull {
            guard let list = items.sequenceItems else { throw items.problem("Component '\(name)': spec.metadata must be a list of name/value items") }
            for item in list {
                guard item.isMapping else { throw item.problem("Component '\(name)': each metadata item needs 'name' and 'value'") }
                let itemName = try item.requiredString("name", in: "Component '\(name)' metadata item")
                let raw: String
                if let secret = item.field("secretKeyRef"), !secret.isNull {
                    guard secret.isMapping else {
                        throw secret.problem("Component '\(name)': metadata '\(itemName)': secretKeyRef needs 'name' and optionally 'key'")
                    }
                    let ref = SecretKeyRef(name: try secret.requiredString("name", in: "Component '\(name)' secretKeyRef"),
                                           key: try secret.optionalString("key"))
                    // Resolved once every file is read (the store may be defined in another one).
                    metadata.append(.init(name: itemName, value: "", line: item.line, secretKeyRef: ref))
                    continue
                } else if let envName = try item.optionalString("envRef") {
                    guard let value = environment[envName] else {
                        throw item.problem("Component '\(name)': metadata '\(itemName)' refers to environment variable \(envName), which is not set")
                    }
                    raw = value
                } else if let valueNode = item.field("value") {
                    guard let scalar = valueNode.scalar else {
                        throw valueNode.problem("Component '\(name)': metadata '\(itemName)' must have a scalar value")
                    }
                    raw = scalar
                } else {
                    raw = ""
                }
                usesNamespace = usesNamespace || raw.contains("{namespace}")
                do throws(TemplateResolver.Failure) {
                    metadata.append(.init(name: itemName, value: try templates.resolve(raw), line: item.line))
                } catch {
                    throw item.problem("Component '\(name)': metadata '\(itemName)': \(error.message)")
                }
            }
        }
        return Component(
            name: name,
            namespace: try meta.optionalString("namespace"),
            type: type,
            version: version,
            metadata: metadata,
            scopes: try doc.stringList("scopes"),
            initTimeoutSeconds: try spec.duration("initTimeout") ?? 5,
            ignoreErrors: try spec.bool("ignoreErrors") ?? false,
            location: doc.location,
            // Resolving `{namespace}` above already failed if the namespace is unknown.
            topicPrefix: usesNamespace && type.hasPrefix("pubsub.") ? templates.namespace : nil,
            secretStore: try doc.field("auth")?.optionalString("secretStore"))
    }

    func parseConfiguration(_ doc: YAMLNode) throws(ResourceProblem) -> ConfigurationSpec {
        let name = try doc.field("metadata")?.optionalString("name") ?? "config"
        var features: [String: Bool] = [:]
        var samplingRate: String?
        if let spec = doc.field("spec") {
            if let list = spec.field("features")?.sequenceItems {
                for item in list {
                    let featureName = try item.requiredString("name", in: "Configuration feature")
                    features[featureName] = try item.bool("enabled") ?? false
                }
            }
            samplingRate = try spec.field("tracing")?.optionalString("samplingRate")
        }
        return ConfigurationSpec(name: name, features: features, samplingRate: samplingRate)
    }
}
