import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// Regression tests for the defects of the hardening issue: each request or answer here crashed,
/// hung or looped Courier before its fix.
@Suite(.serialized) struct HardeningTests {
    /// Out-of-range TTLs trapped in the envelope ("Double value cannot be converted to Int") and
    /// killed the process with every request in flight. Dapr caps them; so does Courier.
    @Test func hugeTTLsAreAnsweredNotTrappedOn() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "ttl"))]") { h in
            let huge = "9223372036854775807"
            #expect(try await h.publish("pubsub/ttl?metadata.ttlInSeconds=\(huge)", #"{"a":1}"#).status == 204)
            // A Go duration longer than Go can hold is not a TTL (ignored, as Go's parser refuses it).
            #expect(try await h.publish("pubsub/ttl?metadata.ttlInSeconds=99999999999999999999h", #"{"a":2}"#).status == 204)
            let ce = #"{"specversion":"1.0","id":"x1","source":"s","type":"t","data":{"a":3}}"#
            #expect(try await h.publish("pubsub/ttl?metadata.ttlInSeconds=\(huge)", ce, contentType: "application/cloudevents+json").status == 204)
            let bulk = #"[{"entryId":"1","event":{"a":4},"contentType":"application/json","metadata":{"ttlInSeconds":"\#(huge)"}}]"#
            let r = try await h.request(.POST, "/v1.0-alpha1/publish/bulk/pubsub/ttl", body: bulk, headers: [("content-type", "application/json")])
            #expect(r.status == 204)
            let got = try await h.subscriber!.wait(for: 4)
            for event in got.compactMap(\.json) where (event["data"] as? [String: Any])?["a"] as? Int != 2 {
                // Capped at the last instant RFC 3339 can write, so the event never expires.
                #expect((event["expiration"] as? String)?.hasPrefix("9999-12-31") == true, "\(event)")
            }
            #expect(try await h.request(.GET, "/v1.0/healthz").status == 204, "still alive")
        }
    }

    /// Malformed chunked framing is a bad request, not "body exceeds the limit".
    @Test func malformedChunkedBodyIsA400() async throws {
        try await withHarness(withApp: false) { h in
            for chunk in ["zz\r\nabc\r\n0\r\n\r\n", "-3\r\nabc\r\n0\r\n\r\n", "3\r\nabcXY0\r\n\r\n"] {
                let raw = "POST /v1.0/publish/pubsub/t HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk
                let answer = try await BrokerCtl.offPool { try RawHTTP.exchange(port: h.httpPort, raw, timeout: 20) }
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(chunk.debugDescription) → \(answer.prefix(80).debugDescription)")
                #expect(!answer.hasPrefix("HTTP/1.1 413"))
            }
            #expect(try await h.request(.GET, "/v1.0/healthz").status == 204)
        }
    }

    /// After a request asking to upgrade, the connection hung: answered, then nothing more on it
    /// was ever read. Now the answer says `Connection: close` and the connection is closed.
    @Test(arguments: ["websocket", "h2c"])
    func upgradeRequestsDoNotHangTheConnection(_ proto: String) async throws {
        try await withHarness(withApp: false) { h in
            let upgrade = "GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: \(proto)\r\n\r\n"
            let (answer, closed) = try await BrokerCtl.offPool { try RawHTTP.untilClosed(port: h.httpPort, upgrade, timeout: 10) }
            #expect(answer.hasPrefix("HTTP/1.1 204"), "\(answer.debugDescription)")
            #expect(answer.lowercased().contains("connection: close"))
            #expect(closed, "the server closed the connection instead of leaving it hanging")
            #expect(try await h.request(.GET, "/v1.0/healthz").status == 204)
        }
    }

    /// A 2xx answer with a body over the 4 MiB read limit was never acknowledged (the body read
    /// failed, so the delivery counted as failed and came back forever). The status decides.
    @Test func hugeSuccessfulAnswerIsAcknowledged() async throws {
        let huge = String(repeating: "x", count: 5 << 20)
        try await withHarness(subscriptions: "[\(subscription(topic: "big-answer"))]", respond: { _, _ in (200, huge) }) { h in
            #expect(try await h.publish("pubsub/big-answer", #"{"n":1}"#).status == 204)
            try await h.subscriber!.wait(for: 1)
            try await Task.sleep(for: .seconds(3))
            #expect(h.subscriber!.requests.count == 1, "delivered once and acknowledged, not redelivered")
        }
    }

    /// SIGTERM with 64 deliveries in flight: the app answers all of them within the grace period,
    /// so none may come back after a restart. (The embedded store's last offset commit could be
    /// cut short by the periodic one; 2 of 5 runs redelivered all 64.)
    @Test func sigtermCommitsEveryAcknowledgedDelivery() async throws {
        for round in 0..<3 {
            let topic = "drain64-\(round)-\(UUID().uuidString.prefix(4))"
            let dir = try DurabilityTests.resources(topic: topic)
            let received = Mutex<[Int: Int]>([:])
            let subscriber = try await TestSubscriber(subscriptions: nil) { request, _ in
                try? await Task.sleep(for: .milliseconds(1500))
                if let n = (request.json?["data"] as? [String: Any])?["n"] as? Int {
                    received.withLock { $0[n, default: 0] += 1 }
                }
                return (200, "")
            }
            let httpPort = try PortAllocator.free()
            let args = ["--app-id", "drain64", "--app-port", "\(subscriber.port)", "--dapr-http-port", "\(httpPort)",
                        "--metrics-port", "\(try PortAllocator.free())", "--resources-path", dir + "/resources", "--data-dir", dir + "/data",
                        "--dapr-graceful-shutdown-seconds", "10"]
            var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(httpPort)
            try await DurabilityTests.waitForSubscription(topic, port: httpPort)
            for n in 0..<64 {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/v1.0/publish/pubsub/\(topic)")
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"n":\#(n)}"#))
                #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(5)).status.code == 204)
            }
            // All 64 are in flight at the app (the default window is 64) when SIGTERM arrives.
            let deadline = Date().addingTimeInterval(10)
            while subscriber.requests.count < 64 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(subscriber.requests.count == 64)
            await courier.terminate()
            #expect(received.withLock { $0.count } == 64, "the app answered every in-flight delivery before Courier exited")
            courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(httpPort)
            try await DurabilityTests.waitForSubscription(topic, port: httpPort)
            try await Task.sleep(for: .seconds(3))
            await courier.terminate()
            await subscriber.stop()
            let redelivered = subscriber.requests.count - 64
            print("sigterm drain round \(round): 64 acknowledged in the grace period, \(redelivered) redelivered after restart")
            #expect(redelivered == 0)
            if redelivered == 0 { try? FileManager.default.removeItem(atPath: dir) }
        }
    }
}

/// One raw HTTP/1.1 exchange over a plain socket, for framing no HTTP client would send.
enum RawHTTP {
    /// Sends `request` and reads until the server closes the connection (`closed`) or `timeout`.
    static func untilClosed(port: Int, _ request: String, timeout: Double) throws -> (String, closed: Bool) {
        let fd = try connected(port: port, timeout: timeout)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (String(decoding: out, as: UTF8.self), true) }
            if n < 0 { return (String(decoding: out, as: UTF8.self), errno == ECONNRESET) }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    static func connected(port: Int, timeout: Double) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw TestFailure("connect failed") }
        return fd
    }

    static func exchange(port: Int, _ request: String, timeout: Double = 5) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if let text = String(bytes: out, encoding: .utf8), text.contains("\r\n\r\n") { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
