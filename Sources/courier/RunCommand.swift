import ArgumentParser
import Courier
import Foundation

/// `courier run`: the gateway.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the gateway.")

    @OptionGroup var options: RunOptions

    func run() async throws {
        let o = try options.courierOptions()
        let logger = LogSetup.bootstrap(level: o.logLevel, json: o.logAsJSON)
        let runtime: CourierRuntime
        do {
            runtime = try await CourierRuntime(options: o, logger: logger)
        } catch let error as CourierRuntime.StartupError {
            FileHandle.standardError.write(Data("courier: cannot start:\n\(error)\n".utf8))
            throw ExitCode(1)
        }
        say(StartupReport.text(runtime))
        try await runtime.run()
    }
}

/// `courier validate [paths]`: parses every resource and reports problems as `file:line: message`.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check resource files without starting.")

    @Argument(help: "Files or directories (default ./bindings and ./routes).")
    var paths: [String] = []
    @Option(name: .customLong("app-id"), help: "App id used for scopes and templates.")
    var appID = "courier"

    func run() throws {
        var o = CourierOptions()
        o.appID = appID
        o.namespace = ProcessInfo.processInfo.environment["NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
        if !paths.isEmpty { o.resourcesPaths = paths }
        let set = CourierRuntime.loadResources(options: o, registry: .standard)
        for problem in set.problems { say(problem.description) }
        if !set.errors.isEmpty {
            say("\(set.errors.count) problem(s) found")
            throw ExitCode(1)
        }
        say("ok: \(set.components.count) component(s), \(set.subscriptions.count) subscription(s), \(set.resiliencies.count) resiliency policy set(s)")
    }
}
