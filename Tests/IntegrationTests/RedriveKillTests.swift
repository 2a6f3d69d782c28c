import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A redrive survives nothing worse than a duplicate: Courier killed with SIGKILL in the middle
/// of one leaves every event either still dead-lettered or delivered, and a second redrive
/// delivers the rest.
@Suite struct RedriveKillTests {
    static func call(_ method: HTTPMethod, port: Int, _ path: String, body: String? = nil) async throws -> (status: Int, json: [String: Any]?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any])
    }

    /// The `n` of every event the dead-letter topic lists.
    static func listed(port: Int, _ topic: String) async throws -> [Int] {
        var out: [Int] = [], after: String?
        while true {
            let page = try await call(.GET, port: port, "/v1.0-alpha1/deadletters/pubsub/\(topic)?limit=1000" + (after.map { "&after=\($0)" } ?? ""))
            guard page.status == 200, let json = page.json else { throw TestFailure("listing \(topic): \(page.status)") }
            out += (json["events"] as? [[String: Any]] ?? []).compactMap { (($0["event"] as? [String: Any])?["data"] as? [String: Any])?["n"] as? Int }
            guard let next = json["next"] as? String else { return out }
            after = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
        }
    }

    static func waitForRedrive(port: Int, _ topic: String, _ id: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let status = try await call(.GET, port: port, "/v1.0-alpha1/deadletters/pubsub/\(topic)/redrive/\(id)").json ?? [:]
            if let state = status["state"] as? String, state != "running" { return status }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("redrive \(id) did not end")
    }

    @Test(arguments: ["embedded", "redis"])
    func killNineMidRedriveLosesNothing(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "rk\(UUID().uuidString.prefix(6).lowercased())", dead = "\(topic)-dead"
        let dir = try DurabilityTests.resources(topic: topic, extra: "deadLetterTopic: \(dead)", pubsub: pubsub)
        let total = 300
        let healthy = Atomic<Bool>(false)
        let accepted = Mutex<[Int: Int]>([:])
        let app = try await TestSubscriber(subscriptions: nil) { request, _ in
            guard request.path == "/events", let n = (request.json?["data"] as? [String: Any])?["n"] as? Int else { return (200, "") }
            guard healthy.load(ordering: .relaxed) else { return (500, "down") }
            accepted.withLock { $0[n, default: 0] += 1 }
            return (200, "")
        }
        let port = try PortAllocator.free()
        let args = try DurabilityTests.arguments(appID: "redrive-kill", appPort: app.port, httpPort: port, directory: dir)
        var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        do {
            try await PortAllocator.waitUntilListening(port)
            try await DurabilityTests.waitForSubscription(topic, port: port)
            for n in 0..<total {
                #expect(try await Self.call(.POST, port: port, "/v1.0/publish/pubsub/\(topic)", body: #"{"n":\#(n)}"#).status == 204)
            }
            var listed: [Int] = []
            for _ in 0..<300 where listed.count < total {
                try await Task.sleep(for: .milliseconds(100))
                listed = try await Self.listed(port: port, dead)
            }
            #expect(Set(listed) == Set(0..<total), "every event dead-lettered first: \(listed.count)")

            // The app recovers; a redrive at 150/s is killed about 0.8 s in.
            healthy.store(true, ordering: .relaxed)
            let started = try await Self.call(.POST, port: port, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive", body: #"{"maxPerSecond":150}"#)
            #expect(started.status == 202)
            try await Task.sleep(for: .milliseconds(Int.random(in: 600...1000)))
            await courier.kill9()
            let deliveredBefore = Set(accepted.withLock { $0.keys })
            courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(port)
            try await DurabilityTests.waitForSubscription(topic, port: port)

            let stillDead = Set(try await Self.listed(port: port, dead))
            let lost = Set(0..<total).subtracting(stillDead).subtracting(deliveredBefore)
            print("kill -9 mid-redrive (\(kind)): \(deliveredBefore.count) delivered before the kill, \(stillDead.count) still dead-lettered, "
                  + "\(stillDead.intersection(deliveredBefore).count) both (to be delivered twice), \(lost.count) lost")
            #expect(deliveredBefore.count > 0 && deliveredBefore.count < total, "killed midway: \(deliveredBefore.count)")
            #expect(lost.isEmpty, "neither delivered nor dead-lettered: \(lost.sorted().prefix(10))")

            // A second redrive delivers the rest.
            let again = try await Self.call(.POST, port: port, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive", body: #"{"maxPerSecond":1000}"#)
            let status = try await Self.waitForRedrive(port: port, dead, again.json?["id"] as? String ?? "")
            #expect(status["state"] as? String == "completed" && status["failed"] as? Int == 0, "\(status)")
            #expect(Set(accepted.withLock { $0.keys }) == Set(0..<total), "every event delivered in the end")
            #expect(try await Self.listed(port: port, dead).isEmpty, "and none left dead-lettered")
        } catch {
            await courier.terminate()
            await app.stop()
            throw error
        }
        await courier.terminate()
        await app.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
