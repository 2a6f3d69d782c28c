import ArgumentParser
import Foundation

@main
struct CourierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "courier",
        abstract: "A standalone message-broker gateway that speaks Dapr's pub/sub and bindings HTTP API.",
        subcommands: [RunCommand.self, ValidateCommand.self, EvalCommand.self, DemoCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Writes a line to standard output at once (no stdio buffering, so logs and reports interleave).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
