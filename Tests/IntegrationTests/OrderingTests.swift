import Foundation
import Synchronization
import Testing

/// Ordered delivery per key (`orderingKey`): events with the same key reach the app one at a
/// time in publish order, different keys in parallel; a failing event holds back only its own key.
@Suite struct OrderingTests {
    static let kinds = ["embedded", "redis", "kafka", "jetstream", "rabbitmq"]

    static let resiliency = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: { name: ordered }
        spec:
          policies:
            retries:
              some: { policy: constant, duration: 5ms, maxRetries: 5 }
          targets:
            components:
              pubsub:
                inbound: { retry: some }
        """

    /// What the app saw: per key, the sequence numbers it accepted in the order it accepted them.
    final class Log: Sendable {
        let accepted = Mutex<[String: [Int]]>([:])
        let attempts = Mutex<[String: Int]>([:])
        let inFlight = Atomic<Int>(0)
        let maxInFlight = Atomic<Int>(0)
        /// The app answers once this is set.
        let open = Atomic<Bool>(false)
        let first = Atomic<Bool>(true)
    }

    @Test(arguments: kinds)
    func eachKeyInPublishOrderKeysInParallel(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let run = "ord\(UUID().uuidString.prefix(6).lowercased())"
        let topic = "\(run)-t", dead = "\(run)-dead"
        let keys = 100, perKey = 50, poisonEvents = 10
        let subs = "[" + subscription(topic: topic, route: "/in", deadLetter: dead,
                                      metadata: ["orderingKey": "event.data.key", "maxConcurrency": "16"])
            + "," + subscription(topic: dead, route: "/dead") + "]"
        let log = Log()
        // The app answers nothing for its first 2 s (or until everything is published): a backlog
        // of many keys, so what bounds the parallelism is ordering and maxConcurrency, not the
        // publishers' pace. (Held longer, on a loaded machine, deliveries hit their 60 s timeout.)
        // Its own app id: the consumer group on Kafka (tests sharing one rebalance each other).
        try await withHarness(resources: ["pubsub.yaml": pubsub, "r.yaml": Self.resiliency], subscriptions: subs, appID: run, respond: { request, _ in
            guard request.path == "/in", let data = request.json?["data"] as? [String: Any],
                  let key = data["key"] as? String, let seq = data["seq"] as? Int else { return (200, "") }
            if log.first.exchange(false, ordering: .relaxed) {
                Task {
                    try? await Task.sleep(for: .seconds(2))
                    log.open.store(true, ordering: .relaxed)
                }
            }
            while !log.open.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
            let now = log.inFlight.add(1, ordering: .relaxed).newValue
            defer { log.inFlight.subtract(1, ordering: .relaxed) }
            var seen = log.maxInFlight.load(ordering: .relaxed)
            while now > seen, !log.maxInFlight.compareExchange(expected: seen, desired: now, ordering: .relaxed).exchanged {
                seen = log.maxInFlight.load(ordering: .relaxed)
            }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
            let attempt = log.attempts.withLock { a -> Int in
                a["\(key)/\(seq)", default: 0] += 1
                return a["\(key)/\(seq)"]!
            }
            if key == "poison" || (attempt == 1 && Int.random(in: 0..<10) == 0) { return (500, "not now") }
            log.accepted.withLock { $0[key, default: []].append(seq) }
            return (200, "")
        }) { h in
            // Sixteen publishers; each key's events are published one after another.
            let names = (0..<keys).map { "k\($0)" } + ["poison"]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<16 {
                    group.addTask {
                        for key in names.enumerated().filter({ $0.offset % 16 == p }).map(\.element) {
                            for seq in 0..<(key == "poison" ? poisonEvents : perKey) {
                                let status = try await h.publish("pubsub/\(topic)?metadata.partitionKey=\(key)", #"{"key":"\#(key)","seq":\#(seq)}"#).status
                                #expect(status == 204)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            log.open.store(true, ordering: .relaxed)
            let total = keys * perKey
            let deadline = Date().addingTimeInterval(120)
            func acceptedCount() -> Int { log.accepted.withLock { a in a.filter { $0.key != "poison" }.values.reduce(0) { $0 + Set($1).count } } }
            while (acceptedCount() < total || h.subscriber!.requests.filter { $0.path == "/dead" }.count < poisonEvents) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let accepted = log.accepted.withLock { $0 }
            var outOfOrder: [String] = []
            for key in names where key != "poison" {
                // First acceptance of each event, in the order the app accepted them (a broker may redeliver one).
                var firsts: [Int] = [], seen = Set<Int>()
                for seq in accepted[key] ?? [] where seen.insert(seq).inserted { firsts.append(seq) }
                if firsts != Array(0..<perKey) { outOfOrder.append("\(key): \(firsts.prefix(12))") }
            }
            let dead = h.subscriber!.requests.filter { $0.path == "/dead" }
            print("ordering (\(kind)): \(acceptedCount())/\(total) accepted, \(outOfOrder.count) keys out of order, "
                  + "\(log.maxInFlight.load(ordering: .relaxed)) in flight at most, \(dead.count) dead-lettered")
            #expect(acceptedCount() == total, "every event accepted")
            #expect(outOfOrder.isEmpty, "each key in publish order: \(outOfOrder.prefix(5))")
            #expect(log.maxInFlight.load(ordering: .relaxed) > 8, "keys in parallel: \(log.maxInFlight.load(ordering: .relaxed)) at most")
            #expect(accepted["poison"] == nil)
            let poison = dead.compactMap { $0.json }.filter { ($0["data"] as? [String: Any])?["key"] as? String == "poison" }
            #expect(Set(poison.compactMap { ($0["data"] as? [String: Any])?["seq"] as? Int }) == Set(0..<poisonEvents),
                    "the failing key's events each went to the dead-letter topic")
            #expect(poison.allSatisfy { $0["deadletterreason"] as? String == "maxretries" && $0["deadletterattempts"] as? Int == 6 },
                    "after their retries: \(poison.first.map { "\($0["deadletterreason"] ?? "-") \($0["deadletterattempts"] ?? "-")" } ?? "none")")
        }
    }

    /// Bulk subscriptions keep each key's order inside a batch and across batches, with entries
    /// failed and retried (no dead-letter topic: held and tried again, never overtaken).
    @Test(arguments: ["embedded", "redis"])
    func bulkKeepsEachKeyInOrder(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "ordb\(UUID().uuidString.prefix(6).lowercased())"
        let keys = 20, perKey = 25
        let subs = "[" + subscription(topic: topic, route: "/in", metadata: ["orderingKey": "event.data.key"],
                                      bulk: #"{"enabled":true,"maxMessagesCount":16,"maxAwaitDurationMs":20}"#) + "]"
        let log = Log()
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: subs, appID: topic, respond: { request, _ in
            guard request.path == "/in", let entries = request.json?["entries"] as? [[String: Any]] else { return (200, "") }
            var statuses: [String] = []
            for entry in entries {
                let id = entry["entryId"] as? String ?? ""
                guard let data = (entry["event"] as? [String: Any])?["data"] as? [String: Any],
                      let key = data["key"] as? String, let seq = data["seq"] as? Int else { continue }
                let attempt = log.attempts.withLock { a -> Int in
                    a["\(key)/\(seq)", default: 0] += 1
                    return a["\(key)/\(seq)"]!
                }
                if attempt == 1 && Int.random(in: 0..<5) == 0 {
                    statuses.append(#"{"entryId":"\#(id)","status":"RETRY"}"#)
                } else {
                    log.accepted.withLock { $0[key, default: []].append(seq) }
                    statuses.append(#"{"entryId":"\#(id)","status":"SUCCESS"}"#)
                }
            }
            return (200, #"{"statuses":[\#(statuses.joined(separator: ","))]}"#)
        }) { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for k in 0..<keys {
                    group.addTask {
                        for seq in 0..<perKey {
                            let status = try await h.publish("pubsub/\(topic)", #"{"key":"k\#(k)","seq":\#(seq)}"#).status
                            #expect(status == 204)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = keys * perKey
            func acceptedCount() -> Int { log.accepted.withLock { $0.values.reduce(0) { $0 + Set($1).count } } }
            let deadline = Date().addingTimeInterval(60)
            while acceptedCount() < total && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            let accepted = log.accepted.withLock { $0 }
            var outOfOrder: [String] = []
            for k in 0..<keys {
                var firsts: [Int] = [], seen = Set<Int>()
                for seq in accepted["k\(k)"] ?? [] where seen.insert(seq).inserted { firsts.append(seq) }
                if firsts != Array(0..<perKey) { outOfOrder.append("k\(k): \(firsts.prefix(12))") }
            }
            let retried = log.attempts.withLock { $0.values.filter { $0 > 1 }.count }
            print("bulk ordering (\(kind)): \(acceptedCount())/\(total) accepted, \(retried) retried, \(outOfOrder.count) keys out of order")
            #expect(acceptedCount() == total)
            #expect(retried > 0, "some entries were retried")
            #expect(outOfOrder.isEmpty, "\(outOfOrder.prefix(5))")
        }
    }

    /// An event whose key cannot be evaluated goes where a rule error goes: the dead-letter topic.
    @Test func anUnevaluableKeyIsARuleError() async throws {
        let subs = "[" + subscription(topic: "t", route: "/in", deadLetter: "dead", metadata: ["orderingKey": "event.data.customer.id"])
            + "," + subscription(topic: "dead", route: "/dead") + "]"
        try await withHarness(subscriptions: subs) { h in
            #expect(try await h.publish("pubsub/t", #"{"customer":{"id":"c1"}}"#).status == 204)
            #expect(try await h.publish("pubsub/t", #"{"other":1}"#).status == 204)
            let dead = try await h.subscriber!.wait(for: 1, path: "/dead", timeout: 10)
            #expect(dead.first?.json?["deadletterreason"] as? String == "ruleerror")
            #expect((dead.first?.json?["deadlettererror"] as? String)?.contains("orderingKey") == true)
            let ok = try await h.subscriber!.wait(for: 1, path: "/in")
            #expect((ok.first?.json?["data"] as? [String: Any])?["customer"] != nil)
        }
    }
}
