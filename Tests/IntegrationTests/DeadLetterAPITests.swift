import Foundation
import Synchronization
import Testing

/// Inspecting and redriving dead letters through the HTTP API: listing pages through a
/// dead-letter topic without changing it; a filtered redrive brings back only the matching
/// events, to the subscription that failed them only, at the asked rate, with progress and
/// cancel; what fails again stays dead-lettered with its attempts counted.
@Suite struct DeadLetterAPITests {
    static let listing = ["embedded", "redis", "kafka", "jetstream"]
    static let redriving = ["embedded", "redis", "jetstream"]

    /// Waits until the dead-letter topic lists `count` events; returns them (every page).
    static func listAll(_ h: Harness, _ topic: String, page: Int = 100) async throws -> [[String: Any]] {
        var events: [[String: Any]] = []
        var after: String?
        while true {
            let r = try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/\(topic)?limit=\(page)" + (after.map { "&after=\($0)" } ?? ""))
            guard r.status == 200 else { throw TestFailure("listing \(topic): \(r.status) \(r.body)") }
            events += r.json?["events"] as? [[String: Any]] ?? []
            guard let next = r.json?["next"] as? String else { return events }
            after = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
        }
    }

    static func waitForListed(_ h: Harness, _ topic: String, _ count: Int, timeout: Double = 60) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var events: [[String: Any]] = []
        while Date() < deadline {
            events = try await listAll(h, topic, page: 1_000)
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("\(topic) lists \(events.count) of \(count) within \(timeout) s")
    }

    /// The component for `kind` with Redis's processingTimeout and JetStream's ackWait raised: on
    /// a loaded machine 2 s and 5 s let the broker hand an event out twice, and each copy was
    /// dead-lettered (exact counts here).
    static func component(_ kind: String) -> String? {
        DurabilityTests.requiredComponent(kind)?
            .replacingOccurrences(of: #"name: processingTimeout, value: "2s""#, with: #"name: processingTimeout, value: "60s""#)
            .replacingOccurrences(of: #"name: ackWait, value: "5s""#, with: #"name: ackWait, value: "60s""#)
    }

    static func n(_ entry: [String: Any]) -> Int? { ((entry["event"] as? [String: Any])?["data"] as? [String: Any])?["n"] as? Int }

    @Test(arguments: listing)
    func listingPagesThroughWithoutChangingTheTopic(_ kind: String) async throws {
        guard let pubsub = Self.component(kind) else { return }
        let run = "dla\(UUID().uuidString.prefix(6).lowercased())"
        let (topic, dead) = ("\(run)-t", "\(run)-dead")
        let total = 1_000
        let subs = "[" + subscription(topic: topic, route: "/in", deadLetter: dead) + "," + subscription(topic: dead, route: "/dead") + "]"
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: subs, appID: run, respond: { request, _ in
            (request.path == "/in" ? 404 : 200, "")
        }) { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<8 {
                    group.addTask {
                        for i in stride(from: p, to: total, by: 8) {
                            let status = try await h.publish("pubsub/\(topic)", #"{"n":\#(i)}"#).status
                            #expect(status == 204)
                        }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await Self.waitForListed(h, dead, total)
            // At least once: on a loaded machine a broker may hand an event out twice, and each
            // copy is dead-lettered; wait until no more arrive.
            var settled = try await Self.listAll(h, dead, page: 1_000).count
            for _ in 0..<30 {
                try await Task.sleep(for: .seconds(1))
                let now = try await Self.listAll(h, dead, page: 1_000).count
                if now == settled { break }
                settled = now
            }
            let first = try await Self.listAll(h, dead)
            let second = try await Self.listAll(h, dead, page: 333)
            #expect(first.count >= total && second.count == first.count, "\(first.count), \(second.count)")
            #expect(first.compactMap { $0["cursor"] as? String } == second.compactMap { $0["cursor"] as? String }, "the same events in the same order")
            #expect(Set(first.compactMap(Self.n)) == Set(0..<total))
            #expect(first.allSatisfy { ($0["event"] as? [String: Any])?["deadletterreason"] as? String == "notfound" })
            // The topic's own subscriber got every dead letter, listing or not.
            _ = try await h.subscriber!.wait(for: total, path: "/dead", timeout: 30)
            if kind == "kafka" {
                // Kafka cannot remove one record: a redrive could not take what it sent on out of the topic.
                let redrive = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive", body: "{}")
                #expect(redrive.status == 501 && redrive.errorCode == "ERR_DEADLETTER_UNSUPPORTED", "\(redrive.body)")
                let dry = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive", body: #"{"dryRun":true}"#)
                #expect(dry.status == 202)
            }
            let unknown = try await h.request(.GET, "/v1.0-alpha1/deadletters/nope/\(dead)")
            #expect(unknown.status == 404 && unknown.errorCode == "ERR_PUBSUB_NOT_FOUND")
            let bad = try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/\(dead)?limit=0")
            #expect(bad.status == 400 && bad.errorCode == "ERR_MALFORMED_REQUEST")
        }
    }

    @Test func brokersThatCannotListSayWhy() async throws {
        for kind in ["rabbitmq", "mqtt"] {
            guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
            try await withHarness(resources: ["pubsub.yaml": pubsub], withApp: false) { h in
                let r = try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/dead")
                #expect(r.status == 501 && r.errorCode == "ERR_DEADLETTER_UNSUPPORTED", "\(kind): \(r.status) \(r.body)")
                #expect((r.json?["message"] as? String)?.contains("cannot list") == true)
                let redrive = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/dead/redrive", body: "{}")
                #expect(redrive.status == 501, "\(kind): \(redrive.status)")
            }
        }
    }

    /// Two apps on one topic; the flag app fails the odd events, which it dead-letters (the other
    /// app accepts everything). Then the flag app recovers and a filtered redrive brings back
    /// only the events the filter names, to the flag app only.
    @Test(arguments: redriving)
    func aFilteredRedriveReachesOnlyTheFailingSubscription(_ kind: String) async throws {
        guard let pubsub = Self.component(kind) else { return }
        let run = "dlr\(UUID().uuidString.prefix(6).lowercased())"
        let (topic, dead) = ("\(run)-t", "\(run)-dead")
        let total = 200
        let healthy = Atomic<Bool>(false)
        let other = try await TestSubscriber(subscriptions: "[\(subscription(topic: topic, route: "/other"))]")
        let subs = "[" + subscription(topic: topic, route: "/in", deadLetter: dead) + "]"
        do {
            try await withHarness(resources: ["pubsub.yaml": pubsub, "other.yaml": GatewayTests.app("other-\(run)", port: other.port)],
                                  subscriptions: subs, appID: run, respond: { request, _ in
                guard request.path == "/in", let n = (request.json?["data"] as? [String: Any])?["n"] as? Int else { return (200, "") }
                return (n % 2 == 1 && !healthy.load(ordering: .relaxed)) ? (500, "odd") : (200, "")
            }) { h in
                _ = try await GatewayTests.waitUntilLive(h, ["other-\(run)": 1])
                for i in 0..<total { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(i)}"#).status == 204) }
                let listed = try await Self.waitForListed(h, dead, total / 2)
                #expect(Set(listed.compactMap(Self.n)) == Set(stride(from: 1, to: total, by: 2)), "the odd events, dead-lettered by app1")
                _ = try await other.wait(for: total, path: "/other", timeout: 30)
                try await Task.sleep(for: .milliseconds(300))
                let otherBefore = other.requests.count, inBefore = h.subscriber!.requests.filter { $0.path == "/in" }.count

                // A dry run counts and lists; nothing moves.
                let filter = #"int(event.data.n) % 4 == 1"#  // 50 of the 100 dead letters (JSON numbers are doubles in CEL)
                var r = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive",
                                            body: #"{"filter":"\#(filter)","dryRun":true}"#)
                #expect(r.status == 202, "\(r.body)")
                var status = try await Self.waitForEnd(h, dead, r.json?["id"] as? String ?? "")
                #expect(status["state"] as? String == "completed" && status["matched"] as? Int == 50 && status["redriven"] as? Int == 0)
                #expect((status["events"] as? [[String: Any]])?.count == 50)

                // Still failing: the matched events stay dead-lettered, their attempts counted.
                r = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive",
                                        body: #"{"filter":"event.data.n == 1","maxPerSecond":1000}"#)
                status = try await Self.waitForEnd(h, dead, r.json?["id"] as? String ?? "")
                #expect(status["matched"] as? Int == 1 && status["failed"] as? Int == 1 && status["redriven"] as? Int == 0, "\(status)")
                let again = try await Self.listAll(h, dead).filter { Self.n($0) == 1 }
                #expect(again.count == 1, "one copy of it stays: \(again.count)")
                #expect((again.first?["event"] as? [String: Any])?["deadletterattempts"] as? Int == 2, "attempts grow: \(again)")

                // Recovered: the filtered redrive at 25/s (50 events: about 2 s).
                healthy.store(true, ordering: .relaxed)
                let started = Date()
                r = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive",
                                        body: #"{"filter":"\#(filter)","maxPerSecond":25}"#)
                let id = r.json?["id"] as? String ?? ""
                try await Task.sleep(for: .milliseconds(800))
                let midway = try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive/\(id)").json ?? [:]
                #expect(midway["state"] as? String == "running" && (midway["remaining"] as? Int ?? 0) > 0, "progress while it runs: \(midway)")
                status = try await Self.waitForEnd(h, dead, id)
                let seconds = Date().timeIntervalSince(started)
                #expect(status["state"] as? String == "completed" && status["matched"] as? Int == 50 && status["redriven"] as? Int == 50, "\(status)")
                #expect(seconds > 49.0 / 25 * 0.8 && seconds < 49.0 / 25 * 1.2 + 1, "at the asked rate: 50 in \(seconds) s")
                let redriven = h.subscriber!.requests.filter { $0.path == "/in" }.dropFirst(inBefore).compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }
                #expect(Set(redriven) == Set(stride(from: 1, to: total, by: 4)), "only the matching events come back")
                #expect(other.requests.count == otherBefore, "the other app gets nothing again")
                let left = try await Self.listAll(h, dead)
                #expect(Set(left.compactMap(Self.n)) == Set(stride(from: 3, to: total, by: 4)), "the rest stays dead-lettered")

                // Cancel: stops between events; what was redriven stays redriven.
                r = try await h.request(.POST, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive", body: #"{"maxPerSecond":5}"#)
                let slow = r.json?["id"] as? String ?? ""
                try await Task.sleep(for: .seconds(1))
                let cancel = try await h.request(.DELETE, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive/\(slow)")
                #expect(cancel.status == 200)
                status = try await Self.waitForEnd(h, dead, slow)
                let done = status["redriven"] as? Int ?? -1
                #expect(status["state"] as? String == "cancelled" && done >= 1 && done < 50, "\(status)")
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await Self.listAll(h, dead).count == 50 - done, "the rest is still there")
                #expect(try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/\(dead)/redrive/nope").status == 404)
            }
        } catch {
            await other.stop()
            throw error
        }
        await other.stop()
    }

    /// `courier deadletters list|redrive|status|cancel` against a running Courier.
    @Test func theCommandLineListsAndRedrives() async throws {
        let fixed = Atomic<Bool>(false)
        let subs = "[" + subscription(topic: "t", route: "/in", deadLetter: "dead") + "]"
        try await withHarness(subscriptions: subs, respond: { request, _ in
            (request.path == "/in" && !fixed.load(ordering: .relaxed) ? 500 : 200, "")
        }) { h in
            for i in 0..<10 { #expect(try await h.publish("pubsub/t", #"{"n":\#(i)}"#).status == 204) }
            _ = try await Self.waitForListed(h, "dead", 10)
            let cli = CommandLineTests(), address = "http://127.0.0.1:\(h.httpPort)"
            var (status, output) = try cli.run(["deadletters", "list", "--address", address, "--limit", "4", "pubsub", "dead"])
            let page = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(status == 0 && (page["events"] as? [Any])?.count == 4 && page["next"] is String)
            fixed.store(true, ordering: .relaxed)
            (status, output) = try cli.run(["deadletters", "redrive", "--address", address, "--filter", "int(event.data.n) < 5",
                                            "--max-per-second", "1000", "pubsub", "dead"])
            let id = try #require((try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])?["id"] as? String, "\(output)")
            #expect(status == 0)
            _ = try await Self.waitForEnd(h, "dead", id)
            (status, output) = try cli.run(["deadletters", "status", "--address", address, "pubsub", "dead", id])
            #expect(status == 0 && output.contains(#""redriven":5"#) && output.contains(#""state":"completed""#), "\(output)")
            (status, output) = try cli.run(["deadletters", "cancel", "--address", address, "pubsub", "dead", "nope"])
            #expect(status == 1 && output.contains("ERR_REDRIVE_NOT_FOUND"), "\(output)")
            #expect(try await Self.listAll(h, "dead").count == 5)
        }
    }

    /// Polls a redrive until it is no longer running.
    static func waitForEnd(_ h: Harness, _ topic: String, _ id: String, timeout: Double = 60) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var status: [String: Any] = [:]
        while Date() < deadline {
            status = try await h.request(.GET, "/v1.0-alpha1/deadletters/pubsub/\(topic)/redrive/\(id)").json ?? [:]
            if let state = status["state"] as? String, state != "running" { return status }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("redrive \(id) still running after \(timeout) s: \(status)")
    }
}
