import Foundation
import Testing

/// File descriptors running out under a running Courier: `accept` failed with EMFILE and was
/// retried (or paused) without freeing anything, so health probes timed out for as long as idle
/// clients stayed. Now the longest-idle connections are closed to make room, accepts pause briefly
/// when nothing can be freed, and everything is normal once descriptors come back.
@Suite(.serialized) struct DescriptorExhaustionTests {
    /// Open descriptors of process `pid`.
    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// User + system CPU seconds of process `pid` so far.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The soft open-file limit of `pid`, from /proc/PID/limits.
    static func softLimit(_ pid: Int32) -> Int {
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first ?? "") ?? -1
    }

    static func prlimit(_ pid: Int32, soft: Int) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        process.arguments = ["--pid", "\(pid)", "--nofile=\(soft):"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("prlimit --pid \(pid) --nofile=\(soft): failed") }
    }

    /// Connections held by a child process (`Tests/clients/holdconns.py`), so the test process
    /// keeps few descriptors: libmosquitto, used by tests running beside this one, cannot use a
    /// descriptor past 1,024 (select()).
    final class HeldConnections: @unchecked Sendable {
        let process = Process()
        let input = Pipe(), output = Pipe()
        private(set) var count = 0

        init(port: Int, count: Int, arguments: [String]) throws {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("clients/holdconns.py").path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script, "\(port)", "\(count)"] + arguments
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            var line = Data()
            while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
            self.count = Int(String(decoding: line, as: UTF8.self).split(separator: " ").last ?? "") ?? 0
        }

        /// Closes every connection by ending the process. Not by closing its stdin and waiting: a
        /// full run once hung there (a process spawned meanwhile can inherit the pipe's write end).
        func release() {
            kill(process.processIdentifier, SIGKILL)  // its sockets close with it
        }
    }

    @Test func healthAnswersWhenTheLimitDropsBelowWhatCourierHolds() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-fds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/resources", withIntermediateDirectories: true)
        try Harness.defaultPubsub.write(toFile: dir + "/resources/pubsub.yaml", atomically: true, encoding: .utf8)
        let port = try PortAllocator.free()
        let courier = try CourierProcess(arguments: ["--app-id", "fds", "--dapr-http-port", "\(port)", "--metrics-port", "\(try PortAllocator.free())",
                                                     "--resources-path", dir + "/resources", "--data-dir", dir + "/data"], log: dir + "/courier.log")
        let pid = courier.pid
        try await PortAllocator.waitUntilListening(port)
        var holders: [HeldConnections] = []
        defer { holders.forEach { $0.release() } }
        do {
            holders.append(try await BrokerCtl.offPool { try HeldConnections(port: port, count: 1100, arguments: ["--idle"]) })
            #expect(holders[0].count == 1100)
            let held = Self.descriptors(pid), original = Self.softLimit(pid)
            #expect(held > 1100, "Courier holds the idle clients: \(held)")
            let lowered = held - 300
            try Self.prlimit(pid, soft: lowered)

            // More clients connect while the limit is below what Courier holds.
            let cpuBefore = Self.cpuSeconds(pid), start = Date()
            let newcomers = Task { try await BrokerCtl.offPool { try HeldConnections(port: port, count: 300, arguments: ["--interval", "0.01"]) } }
            var latencies: [Double] = []
            for _ in 0..<5 {
                let asked = Date()
                let answer = try await BrokerCtl.offPool { try RawHTTP.exchange(port: port, "GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 5) }
                latencies.append(Date().timeIntervalSince(asked))
                #expect(answer.hasPrefix("HTTP/1.1 204"), "health on a new connection: \(answer.prefix(60).debugDescription)")
                try await Task.sleep(for: .milliseconds(300))
            }
            holders.append(try await newcomers.value)
            try await Task.sleep(for: .seconds(1))
            let cpu = (Self.cpuSeconds(pid) - cpuBefore) / Date().timeIntervalSince(start)
            print("descriptor exhaustion: held \(held), limit lowered to \(lowered), health latencies \(latencies.map { Int($0 * 1000) }) ms, CPU \(Int(cpu * 100)) %, descriptors now \(Self.descriptors(pid))")
            // Alone the answers take 2-63 ms, inside the full suite up to 0.9 s (its timers run late
            // on two busy cores); the code before the fix did not answer within 5 s at all. The bound
            // leaves CI's slower machine room without letting that defect through.
            #expect(latencies.sorted()[2] < 2.5, "health answers promptly (median of 5): \(latencies)")
            #expect(cpu < 0.5, "Courier does not spin: \(cpu * 100) % of a core")
            #expect(Self.descriptors(pid) < lowered, "back under the lowered limit")

            // The clients go, the limit comes back: everything is normal.
            holders.forEach { $0.release() }
            holders = []
            try Self.prlimit(pid, soft: original)
            try await Task.sleep(for: .milliseconds(500))
            let health = try await BrokerCtl.offPool { try RawHTTP.exchange(port: port, "GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 5) }
            #expect(health.hasPrefix("HTTP/1.1 204"))
            let publish = try await BrokerCtl.offPool {
                try RawHTTP.exchange(port: port, "POST /v1.0/publish/pubsub/fds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", timeout: 5)
            }
            #expect(publish.hasPrefix("HTTP/1.1 204"), "\(publish.prefix(80).debugDescription)")
            holders.append(try await BrokerCtl.offPool { try HeldConnections(port: port, count: 200, arguments: ["--idle"]) })
            #expect(Self.descriptors(pid) > 200, "idle connections are kept again once descriptors are plentiful")
        } catch {
            await courier.terminate()
            throw error
        }
        await courier.terminate()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
