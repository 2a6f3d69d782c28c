/// A Dapr `Component` resource (spec §10.1) with its metadata resolved.
public struct Component: Sendable {
    public var name: String
    public var namespace: String?
    /// `spec.type`, e.g. `pubsub.embedded`.
    public var type: String
    public var version: String
    public var metadata: ComponentMetadata
    /// App ids allowed to load it; empty means every app.
    public var scopes: [String]
    public var initTimeoutSeconds: Double
    public var ignoreErrors: Bool
    public var location: SourceLocation
    /// For a namespace-scoped pub/sub (one of its metadata values used `{namespace}`): the
    /// namespace, prepended to every topic at the broker with no separator (spec §6). Nil otherwise.
    public var topicPrefix: String?
    /// `auth.secretStore`: where this component's `secretKeyRef` items are read from.
    public var secretStore: String?

    public init(name: String, namespace: String? = nil, type: String, version: String = "v1",
                metadata: ComponentMetadata = ComponentMetadata(), scopes: [String] = [],
                initTimeoutSeconds: Double = 5, ignoreErrors: Bool = false,
                location: SourceLocation = SourceLocation(file: "<memory>", line: 1), topicPrefix: String? = nil,
                secretStore: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.type = type
        self.version = version
        self.metadata = metadata
        self.scopes = scopes
        self.initTimeoutSeconds = initTimeoutSeconds
        self.ignoreErrors = ignoreErrors
        self.location = location
        self.topicPrefix = topicPrefix
        self.secretStore = secretStore
    }

    /// `pubsub` for `pubsub.*` types, `bindings` for `bindings.*`, and so on.
    public var category: String { String(type.split(separator: ".", maxSplits: 1).first ?? "") }

    /// Whether the app `appID` may load this component.
    public func isVisible(to appID: String) -> Bool { scopes.isEmpty || scopes.contains(appID) }
}

/// Component metadata: name/value pairs, looked up case-insensitively as Dapr's decoders do.
public struct ComponentMetadata: Sendable {
    /// One `metadata:` item after template and `envRef` resolution.
    public struct Item: Sendable {
        public var name: String
        /// For a `secretKeyRef` item, empty until `ResourceLoader.resolveSecrets` filled it in.
        public var value: String
        public var line: Int
        public var secretKeyRef: SecretKeyRef?

        public init(name: String, value: String, line: Int, secretKeyRef: SecretKeyRef? = nil) {
            self.name = name
            self.value = value
            self.line = line
            self.secretKeyRef = secretKeyRef
        }
    }

    public private(set) var items: [Item] = []

    public init() {}

    public init(_ pairs: [String: String]) {
        for (k, v) in pairs.sorted(by: { $0.key < $1.key }) { items.append(Item(name: k, value: v, line: 0)) }
    }

    mutating func append(_ item: Item) { items.append(item) }

    mutating func setValue(_ value: String, at index: Int) { items[index].value = value }

    /// The value of `name` (case-insensitive), if present.
    public subscript(name: String) -> String? { item(name)?.value }

    /// The item named `name` (case-insensitive), if present.
    public func item(_ name: String) -> Item? {
        let lower = name.lowercased()
        return items.first { $0.name.lowercased() == lower }
    }

    /// The same items without those named in `lowercasedNames`.
    public func removing(_ lowercasedNames: Set<String>) -> ComponentMetadata {
        var copy = self
        copy.items.removeAll { lowercasedNames.contains($0.name.lowercased()) }
        return copy
    }

    /// All pairs as a dictionary (original key case).
    public var dictionary: [String: String] {
        Dictionary(items.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}
