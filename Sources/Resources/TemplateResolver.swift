/// Expands Dapr's template tags in component metadata values (spec §6).
public struct TemplateResolver: Sendable {
    public var appID: String
    public var namespace: String?
    public var podName: String?
    public var makeUUID: @Sendable () -> String

    public init(appID: String, namespace: String? = nil, podName: String? = nil,
                makeUUID: @escaping @Sendable () -> String) {
        self.appID = appID
        self.namespace = namespace
        self.podName = podName
        self.makeUUID = makeUUID
    }

    /// What went wrong expanding a value.
    public struct Failure: Error, Sendable { public var message: String }

    /// Expands `{uuid}` (a new id per occurrence), `{appID}`, `{namespace}` (`<ns>.<appID>`), `{podName}`.
    public func resolve(_ value: String) throws(Failure) -> String {
        guard value.contains("{") else { return value }
        var out = ""
        var rest = Substring(value)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let tag = rest[rest.index(after: open)..<close]
            switch tag {
            case "uuid": out += makeUUID()
            case "appID": out += appID
            case "namespace":
                guard let namespace else { throw Failure(message: "{namespace} needs the NAMESPACE environment variable") }
                out += "\(namespace).\(appID)"
            case "podName":
                guard let podName else { throw Failure(message: "{podName} needs the POD_NAME environment variable") }
                out += podName
            default:
                out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return out
    }
}
