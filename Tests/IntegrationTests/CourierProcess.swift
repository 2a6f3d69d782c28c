import Foundation

/// The real `courier` binary as a child process (built next to the test bundle by `swift build`).
final class CourierProcess: @unchecked Sendable {
    let process = Process()
    let log: String

    static var executable: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("courier").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return dir.appendingPathComponent("courier").path
    }

    init(arguments: [String], log: String, environment: [String: String] = [:]) throws {
        self.log = log
        process.executableURL = URL(fileURLWithPath: Self.executable)
        // Every process gets its own gRPC port (the default 50001 would collide between tests).
        let grpc = arguments.contains("--dapr-grpc-port") ? [] : ["--dapr-grpc-port", "\(try PortAllocator.free())"]
        process.arguments = ["run"] + arguments + grpc
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGKILL: no chance to flush, drain or close anything.
    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        let process = self.process
        _ = try? await BrokerCtl.offPool { process.waitUntilExit() }
    }

    /// SIGTERM and wait.
    /// Waits off the cooperative pool: a graceful shutdown can take seconds, and the in-process
    /// subscriber apps need the pool's threads meanwhile.
    func terminate() async {
        process.terminate()
        let process = self.process
        _ = try? await BrokerCtl.offPool { process.waitUntilExit() }
    }
}
