import Foundation

/// Parses `App` resources (`apiVersion: courier/v1alpha1`, Courier's own kind).
enum AppParser {
    static func parse(_ doc: YAMLNode) throws(ResourceProblem) -> AppSpec {
        let apiVersion = try doc.optionalString("apiVersion") ?? ""
        guard apiVersion == "courier/v1alpha1" else {
            throw doc.problem("App: apiVersion must be courier/v1alpha1, not '\(apiVersion)'")
        }
        guard let meta = doc.field("metadata"), meta.isMapping else { throw doc.problem("App: 'metadata.name' is required") }
        let id = try meta.requiredString("name", in: "App")
        let label = "App '\(id)'"
        guard id.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]*$"#, options: .regularExpression) != nil else {
            throw (meta.field("name") ?? meta).problem("\(label): the name (the app id) may hold letters, digits, '.', '_' and '-' only")
        }
        guard let spec = doc.field("spec"), spec.isMapping else { throw doc.problem("\(label): 'spec' is required") }
        let baseURL = try spec.requiredString("baseUrl", in: label)
        let urlNode = spec.field("baseUrl") ?? spec
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw urlNode.problem("\(label): baseUrl '\(baseURL)' is not a URL such as http://127.0.0.1:3001")
        }
        guard scheme == "http" || scheme == "https" else {
            throw urlNode.problem("\(label): baseUrl scheme '\(scheme)' is not supported (http or https)")
        }
        guard url.path.isEmpty || url.path == "/" else {
            throw urlNode.problem("\(label): baseUrl must not have a path (routes are the app's own)")
        }
        let protocolName = (try spec.optionalString("protocol") ?? "http").lowercased()
        guard protocolName == "http" || protocolName == "grpc" else {
            throw (spec.field("protocol") ?? spec).problem("\(label): protocol must be http or grpc, not '\(protocolName)'")
        }
        guard scheme == "http" || protocolName == "http" else {
            throw urlNode.problem("\(label): https is for http apps; gRPC apps are reached over plaintext HTTP/2 (use an http:// baseUrl)")
        }
        let caFile = try spec.optionalString("caFile")
        if let caFile {
            let node = spec.field("caFile") ?? spec
            guard scheme == "https" else { throw node.problem("\(label): caFile is for an https:// baseUrl") }
            guard FileManager.default.isReadableFile(atPath: caFile) else { throw node.problem("\(label): caFile '\(caFile)' cannot be read") }
        }
        let maxConcurrency = try spec.int("maxConcurrency") ?? -1
        guard maxConcurrency == -1 || maxConcurrency > 0 else {
            throw (spec.field("maxConcurrency") ?? spec).problem("\(label): maxConcurrency must be positive (or -1 for no limit)")
        }
        var healthCheck: AppSpec.HealthCheck?
        if let health = spec.field("healthCheck"), !health.isNull {
            guard health.isMapping else { throw health.problem("\(label): healthCheck must be a mapping (path, intervalSeconds, timeoutMilliseconds, threshold)") }
            var check = AppSpec.HealthCheck()
            if let path = try health.optionalString("path") {
                guard path.hasPrefix("/") else { throw (health.field("path") ?? health).problem("\(label): healthCheck.path must start with /") }
                check.path = path
            }
            if let text = try health.optionalString("intervalSeconds") {
                guard let v = Double(text), v > 0 else { throw (health.field("intervalSeconds") ?? health).problem("\(label): healthCheck.intervalSeconds must be a positive number") }
                check.intervalSeconds = v
            }
            if let v = try health.int("timeoutMilliseconds") {
                guard v > 0 else { throw (health.field("timeoutMilliseconds") ?? health).problem("\(label): healthCheck.timeoutMilliseconds must be positive") }
                check.timeoutMilliseconds = v
            }
            if let v = try health.int("threshold") {
                guard v > 0 else { throw (health.field("threshold") ?? health).problem("\(label): healthCheck.threshold must be positive") }
                check.threshold = v
            }
            healthCheck = check
        }
        return AppSpec(id: id, address: .init(scheme: scheme, host: host, port: url.port ?? (scheme == "https" ? 443 : 80)), protocolName: protocolName, caFile: caFile,
                       apiToken: try token(spec, "apiToken", label), appToken: try token(spec, "appToken", label),
                       maxConcurrency: maxConcurrency, healthCheck: healthCheck, secretStore: try spec.field("auth")?.optionalString("secretStore"),
                       location: doc.location)
    }

    /// `{value: "…"}` or `{secretKeyRef: {name, key}}`.
    static func token(_ spec: YAMLNode, _ key: String, _ label: String) throws(ResourceProblem) -> AppSpec.Token? {
        guard let node = spec.field(key), !node.isNull else { return nil }
        guard node.isMapping else { throw node.problem("\(label): \(key) must be {value: …} or {secretKeyRef: {name, key}}") }
        if let ref = node.field("secretKeyRef"), !ref.isNull {
            guard ref.isMapping else { throw ref.problem("\(label): \(key).secretKeyRef needs 'name' and optionally 'key'") }
            return .secret(SecretKeyRef(name: try ref.requiredString("name", in: "\(label) \(key).secretKeyRef"), key: try ref.optionalString("key")),
                           line: ref.line)
        }
        guard let value = try node.optionalString("value"), !value.isEmpty else {
            throw node.problem("\(label): \(key) must be {value: …} or {secretKeyRef: {name, key}}")
        }
        return .value(value)
    }
}
