import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
struct CourierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "courier",
        abstract: "A standalone message-broker gateway that speaks Dapr's pub/sub and bindings HTTP API.",
        subcommands: [RunCommand.self, ValidateCommand.self, EvalCommand.self, DeadLettersCommand.self, DemoCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() async {
        // Swift tasks run on NIO's event loops, the threads that own the sockets: a request, its
        // publish and its answer stay on one thread instead of hopping to the cooperative pool and
        // back (context switches per delivered event halved). COURIER_EXECUTOR=default opts out.
        if ProcessInfo.processInfo.environment["COURIER_EXECUTOR"] != "default" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
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
