import Foundation
import Synchronization
import Testing

/// The broker killed with SIGKILL while Courier publishes and delivers through it, on a private
/// server started by scripts/brokers (Redis with its append-only file, NATS JetStream with its file
/// store). Every publish answered 204 must be delivered after the broker is back; publishes during
/// the outage fail fast with an error (never a 204 for a message the broker lost).
@Suite(.serialized) struct BrokerKillTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Runs `scripts/brokers ARGS` for the private server in `env` (posix_spawn and waitpid on a
    /// thread of its own: Foundation's Process never saw this script exit once it had started a
    /// broker in the background).
    static func brokers(_ arguments: [String], env: [String: String]) async throws {
        let status = try await BrokerCtl.offPool { () throws -> Int32 in
            let script = root + "/scripts/brokers"
            let argv = ([script] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            let environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { envp.forEach { free($0) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, script, nil, nil, argv, envp) == 0 else { throw TestFailure("posix_spawn \(script) failed") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status
        }
        guard status == 0 else { throw TestFailure("scripts/brokers \(arguments) failed (status \(status))") }
    }

    @Test(arguments: ["redis", "nats"])
    func killNineOfTheBrokerUnderLoadLosesNothingAcknowledged(_ service: String) async throws {
        guard ProcessInfo.processInfo.environment[service == "redis" ? "REDIS_URL" : "NATS_URL"] != nil else {
            _ = DurabilityTests.requiredComponent(service == "redis" ? "redis" : "jetstream")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("broker-kill-\(UUID().uuidString)").path
        let port = (service == "redis" ? 18_379 : 14_222) + Int.random(in: 0..<1000)
        var env = ["BROKERS_DIR": dir]
        let component: String
        if service == "redis" {
            env["REDIS_PORT"] = "\(port)"
            component = BindingTests.component("pubsub", "pubsub.redis", [("redisHost", "127.0.0.1:\(port)"), ("processingTimeout", "5s"), ("redeliverInterval", "1s")])
        } else {
            env["NATS_PORT"] = "\(port)"
            env["NATS_MON_PORT"] = "\(port + 4000)"
            component = BindingTests.component("pubsub", "pubsub.jetstream", [("natsURL", "nats://127.0.0.1:\(port)"), ("ackWait", "5s")])
        }
        try await Self.brokers(["start", service], env: env)
        let topic = "kill-\(service)-\(UUID().uuidString.prefix(6))"
        let received = Mutex<[Int: Int]>([:])
        do {
            try await withHarness(resources: ["pubsub.yaml": component], subscriptions: "[\(subscription(topic: topic))]", appID: "kill-\(topic)",
                                  respond: { request, _ in
                if let n = (request.json?["data"] as? [String: Any])?["n"] as? Int { received.withLock { $0[n, default: 0] += 1 } }
                return (200, "")
            }) { h in
                let acknowledged = Mutex<Set<Int>>([])
                let failed = Mutex(0)
                let publisher = Task {
                    for n in 0..<1500 {
                        let r = try? await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#)
                        if r?.status == 204 { _ = acknowledged.withLock { $0.insert(n) } } else { failed.withLock { $0 += 1 } }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }
                // Kill it mid-stream, leave it down a moment, bring it back on the same data.
                while acknowledged.withLock({ $0.count }) < 300 { try await Task.sleep(for: .milliseconds(20)) }
                let pid = try String(contentsOfFile: "\(dir)/\(service)/\(service).pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                let brokerPID = pid_t(pid)!
                kill(brokerPID, SIGKILL)
                // Gone for good before the restart: the test process may have inherited it as an
                // orphan, so reap it here (a zombie still answers kill -0 and looks alive).
                for _ in 0..<100 {
                    var status: Int32 = 0
                    _ = waitpid(brokerPID, &status, WNOHANG)
                    if kill(brokerPID, 0) != 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await Task.sleep(for: .seconds(1))
                try await Self.brokers(["start", service], env: env)
                try await publisher.value
                let wanted = acknowledged.withLock { $0 }
                let deadline = Date().addingTimeInterval(60)
                while !wanted.isSubset(of: received.withLock({ Set($0.keys) })) && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
                let got = received.withLock { $0 }
                let missing = wanted.subtracting(got.keys)
                let duplicates = got.values.reduce(0) { $0 + max($1 - 1, 0) }
                print("broker kill -9 (\(service)): \(wanted.count) answered 204, \(failed.withLock { $0 }) refused during the outage, \(missing.count) missing, \(duplicates) duplicates")
                #expect(missing.isEmpty, "acknowledged but never delivered: \(missing.sorted().prefix(20))")
                #expect(wanted.count > 300, "publishing resumed after the broker came back")
            }
        } catch {
            try? await Self.brokers(["stop", service], env: env)
            throw error
        }
        try await Self.brokers(["stop", service], env: env)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
