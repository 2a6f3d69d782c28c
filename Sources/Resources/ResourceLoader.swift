import Foundation
import Yams

/// Reads Dapr resource files (Component, Subscription, Resiliency, Configuration) and Courier's
/// `App` resources from files and
/// directories, collecting every problem as `file:line: message` instead of stopping at the first.
public struct ResourceLoader: Sendable {
    public var appID: String
    public var templates: TemplateResolver
    /// Decides whether a `spec.type` is supported; `nil` accepts every type.
    public var isKnownComponentType: (@Sendable (String) -> Bool)?
    public var environment: [String: String]

    public init(appID: String, templates: TemplateResolver, environment: [String: String] = ProcessInfo.processInfo.environment,
                isKnownComponentType: (@Sendable (String) -> Bool)? = nil) {
        self.appID = appID
        self.templates = templates
        self.environment = environment
        self.isKnownComponentType = isKnownComponentType
    }

    /// Loads every `*.yaml` / `*.yml` file under each path (directories are read in name order,
    /// missing paths are reported as warnings).
    public func load(paths: [String]) -> ResourceSet {
        var set = ResourceSet()
        for path in paths {
            for file in files(at: path, problems: &set.problems) {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    set.problems.append(ResourceProblem(SourceLocation(file: file, line: 1), "cannot read the file"))
                    continue
                }
                load(text: text, file: file, into: &set)
            }
        }
        finish(&set)
        return set
    }

    /// What follows reading every file: resources scoped to none of the apps are dropped (the
    /// flag app's id and every `App`'s), duplicate components reported, secrets resolved.
    public func finish(_ set: inout ResourceSet) {
        let ids = Set([appID] + set.apps.map(\.id))
        set.components.removeAll { component in !ids.contains { component.isVisible(to: $0) } }
        set.subscriptions.removeAll { !$0.scopes.isEmpty && ids.isDisjoint(with: $0.scopes) }
        set.resiliencies.removeAll { !$0.scopes.isEmpty && ids.isDisjoint(with: $0.scopes) }
        checkDuplicates(&set)
        resolveSecrets(in: &set)
    }

    /// Loads resources from YAML text (one or more documents).
    public func load(text: String, file: String, into set: inout ResourceSet) {
        var documents: [Node] = []
        do {
            let parser = try Parser(yaml: text)
            while let node = try parser.nextRoot() { documents.append(node) }
        } catch {
            set.problems.append(Self.yamlProblem(error, file: file))
            return
        }
        for node in documents {
            let doc = YAMLNode(node: node, file: file)
            guard doc.isMapping else {
                if !doc.isNull { set.problems.append(doc.problem("a resource must be a YAML mapping")) }
                continue
            }
            do throws(ResourceProblem) {
                let kind = try doc.optionalString("kind") ?? ""
                switch kind {
                case "Component":
                    set.components.append(try parseComponent(doc))
                case "Subscription":
                    set.subscriptions.append(try SubscriptionParser.parse(doc))
                case "Resiliency":
                    set.resiliencies.append(try ResiliencyParser.parse(doc))
                case "App":
                    set.apps.append(try AppParser.parse(doc))
                case "Configuration":
                    set.configuration = try parseConfiguration(doc)
                case "":
                    throw doc.problem("'kind' is required")
                default:
                    set.problems.append(ResourceProblem(doc.location, "kind '\(kind)' is not used by Courier; skipped", isWarning: true))
                }
            } catch {
                set.problems.append(error)
            }
        }
    }

    func files(at path: String, problems: inout [ResourceProblem]) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            problems.append(ResourceProblem(SourceLocation(file: path, line: 0), "resources path does not exist", isWarning: true))
            return []
        }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(path)/\($0)" }
    }

    static func yamlProblem(_ error: any Error, file: String) -> ResourceProblem {
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return ResourceProblem(SourceLocation(file: file, line: mark.line), "invalid YAML: \(problem)")
            default: break
            }
        }
        return ResourceProblem(SourceLocation(file: file, line: 1), "invalid YAML: \(error)")
    }

    func checkDuplicates(_ set: inout ResourceSet) {
        var apps: [String: SourceLocation] = [:]
        for app in set.apps {
            if let first = apps[app.id] {
                set.problems.append(ResourceProblem(app.location, "App '\(app.id)' is already defined at \(first)"))
            } else if app.id == appID {
                set.problems.append(ResourceProblem(app.location, "App '\(app.id)' has the id of the --app-id app"))
            } else {
                apps[app.id] = app.location
            }
        }
        var seen: [String: SourceLocation] = [:]
        for component in set.components {
            if let first = seen[component.name] {
                set.problems.append(ResourceProblem(component.location, "component '\(component.name)' is already defined at \(first)"))
            } else {
                seen[component.name] = component.location
            }
        }
    }
}
