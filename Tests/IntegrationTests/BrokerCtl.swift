import Dispatch
import Foundation
import Testing

/// The brokers' own Python clients (confluent-kafka, pika, paho-mqtt, redis, nats-py) through
/// `Tests/clients/brokerctl.py`, in the virtual environment `scripts/test` creates
/// (`COURIER_PYTHON`): messages enter and leave the brokers by code that is not Courier's.
enum BrokerCtl {
    static var python: String? { ProcessInfo.processInfo.environment["COURIER_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clients/brokerctl.py").path
    }

    /// True when the clients can run; otherwise records why (a failure under scripts/test).
    static func available() -> Bool {
        if python != nil { return true }
        if ProcessInfo.processInfo.environment["COURIER_REQUIRE_BROKERS"] == "1" {
            Issue.record("COURIER_PYTHON is not set: scripts/test creates the client virtual environment")
        } else {
            print("skipping: COURIER_PYTHON (a Python with the brokers' clients) is not set")
        }
        return false
    }

    /// Writes `count` messages `{"n":i}` (key `k<i>`, header `h=v` where the protocol has them).
    static func produce(_ kind: String, _ target: String, count: Int, start: Int = 0) async throws {
        let (status, output) = try await offPool { try run(["produce", kind, target, "\(count)", "--start", "\(start)"]) }
        guard status == 0 else { throw TestFailure("brokerctl produce \(kind) \(target) failed: \(output)") }
    }

    /// Provisions JetStream stream `name` capturing `subjects`, as an operator would.
    static func addJetStreamStream(_ name: String, subjects: [String]) async throws {
        let (status, output) = try await offPool { try run(["jetstream-add-stream", name] + subjects) }
        guard status == 0 else { throw TestFailure("brokerctl jetstream-add-stream \(name) failed: \(output)") }
    }

    /// Every JetStream stream: its subjects and how many messages it holds.
    static func jetStreamStreams() async throws -> [String: (subjects: [String], messages: Int)] {
        let (status, output) = try await offPool { try run(["jetstream-streams"]) }
        guard status == 0, let line = output.split(separator: "\n").last,
              let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: [String: Any]] else {
            throw TestFailure("brokerctl jetstream-streams failed: \(output)")
        }
        return object.mapValues { ($0["subjects"] as? [String] ?? [], $0["messages"] as? Int ?? -1) }
    }

    /// Runs blocking process I/O on a thread of its own: neither the cooperative pool (two threads
    /// here, which also run the in-process Courier of the other tests) nor Dispatch's global queue
    /// (as wide as the cores; Courier's `runBlocking` C calls queue behind a waiting process there).
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let thread = Thread { c.resume(with: Result { try body() }) }
            thread.start()
        }
    }

    /// A consumer that is subscribed (it printed "ready") when this returns.
    static func consumer(_ kind: String, _ target: String, count: Int, timeout: Double = 30) async throws -> Consumer {
        try await offPool { try Consumer(kind, target, count: count, timeout: timeout) }
    }

    /// A consumer started before the messages are written; `messages()` waits for it to end.
    final class Consumer: @unchecked Sendable {
        let process = Process()
        let pipe = Pipe()
        private let lines = LockedLines()

        init(_ kind: String, _ target: String, count: Int, timeout: Double = 30) throws {
            process.executableURL = URL(fileURLWithPath: BrokerCtl.python!)
            process.arguments = [BrokerCtl.script, "consume", kind, target, "\(count)", "--timeout", "\(timeout)"]
            process.standardOutput = pipe
            process.standardError = FileHandle.standardError
            let lines = self.lines
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if !data.isEmpty { lines.append(data) }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while !lines.text.contains("\"ready\"") && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        }

        /// Every message read, once the consumer got `count` of them or timed out.
        func messages() async -> [[String: Any]] {
            let text = (try? await BrokerCtl.offPool { self.finish() }) ?? ""
            return text.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }

        private func finish() -> String {
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
            lines.append(pipe.fileHandleForReading.readDataToEndOfFile())
            return lines.text
        }
    }

    final class LockedLines: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
    }

    static func run(_ arguments: [String]) throws -> (Int32, String) {
        try run([script] + arguments, python: python!, environment: nil)
    }

    /// Runs `python` with `arguments` to its end; its exit status and combined output.
    static func run(_ arguments: [String], python: String, environment: [String: String]?) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
