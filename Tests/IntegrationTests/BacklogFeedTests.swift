import Foundation
import Synchronization
import Testing

/// The queue-length feed autoscalers read: the HTTP endpoint and the Prometheus gauge.
@Suite struct BacklogFeedTests {
    @Test func backlogGrowsWhileTheAppFailsAndDrainsToZero() async throws {
        let open = Atomic<Bool>(false)
        try await withHarness(subscriptions: "[\(subscription(topic: "jobs"))]", appID: "workers",
                              configure: { $0.backlogReportInterval = .milliseconds(200) },
                              respond: { _, _ in open.load(ordering: .relaxed) ? (200, "") : (500, "") }) { h in
            for i in 0..<5 { #expect(try await h.publish("pubsub/jobs", #"{"n":\#(i)}"#).status == 204) }
            try await Task.sleep(for: .milliseconds(500))
            let busy = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/jobs")
            #expect(busy.status == 200)
            #expect(busy.json?["total"] as? Int == 5, "\(busy.body)")
            #expect(busy.json?["consumerGroup"] as? String == "workers")
            // The gauge is refreshed every 200 ms here: wait for a refresh that saw all five.
            let line = #"courier_pubsub_backlog{pubsub="pubsub",topic="jobs",group="workers"} 5"#
            var gauge = try await h.request(.GET, "/metrics", port: h.metricsPort)
            for _ in 0..<50 where !gauge.body.contains(line) {
                try await Task.sleep(for: .milliseconds(100))
                gauge = try await h.request(.GET, "/metrics", port: h.metricsPort)
            }
            #expect(gauge.body.contains(line), "\(gauge.body)")

            open.store(true, ordering: .relaxed)
            var total = -1
            for _ in 0..<100 where total != 0 {
                try await Task.sleep(for: .milliseconds(100))
                total = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/jobs").json?["total"] as? Int ?? -1
            }
            #expect(total == 0)
            let other = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/jobs?consumerGroup=nobody")
            #expect(other.json?["consumerGroup"] as? String == "nobody")
            let missing = try await h.request(.GET, "/v1.0-alpha1/backlog/nope/jobs")
            #expect(missing.status == 404 && missing.errorCode == "ERR_PUBSUB_NOT_FOUND")
        }
    }
}
