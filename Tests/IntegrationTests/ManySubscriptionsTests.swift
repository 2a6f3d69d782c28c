import Foundation
import Synchronization
import Testing

/// Sixteen subscriptions on one component: each gets its own topic's events, start-up does not
/// grow with their number (Kafka joins its group once for all of them), and a subscription whose
/// app route is slow does not hold back the others.
@Suite(.serialized) struct ManySubscriptionsTests {
    @Test(arguments: ["embedded", "kafka", "kafka-noida"])
    func sixteenSubscriptionsOnOneComponent(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let id = UUID().uuidString.prefix(6)
        let topics = (0..<16).map { "many-\(id)-\($0)" }
        // t0's route takes 1.5 s per event, one at a time; the others answer at once.
        let subscriptions = "[" + topics.enumerated().map { i, t in
            subscription(topic: t, route: "/r\(i)", metadata: i == 0 ? ["maxConcurrency": "1"] : [:])
        }.joined(separator: ",") + "]"
        let started = Date()
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: subscriptions, appID: "many-\(id)", respond: { request, _ in
            if request.path == "/r0" { try? await Task.sleep(for: .milliseconds(1500)) }
            return (200, "")
        }) { h in
            let ready = Date().timeIntervalSince(started)
            #expect(h.runtime.subscriptions.activeSubscriptions.count == 16)
            let perTopic = 5
            // The slow topic gets a backlog larger than a subscription's prefetch (256 on Kafka), so
            // its queue fills while the others still have to be fetched.
            let backlog = "[" + (0..<300).map { #"{"entryId":"\#($0)","event":{"topic":0,"n":\#($0 + 100)},"contentType":"application/json"}"# }.joined(separator: ",") + "]"
            let bulk = try await h.request(.POST, "/v1.0-alpha1/publish/bulk/pubsub/\(topics[0])", body: backlog, headers: [("content-type", "application/json")])
            #expect(bulk.status == 204)
            try await Task.sleep(for: .seconds(2))
            for (i, topic) in topics.enumerated() {
                for n in 0..<perTopic {
                    let r = try await h.publish("pubsub/\(topic)", #"{"topic":\#(i),"n":\#(n)}"#)
                    #expect(r.status == 204)
                }
            }
            let publishedAt = Date()
            // Every other topic is delivered while t0 is still working through its slow events.
            for i in 1..<16 { try await h.subscriber!.wait(for: perTopic, path: "/r\(i)", timeout: 30) }
            let othersDone = Date().timeIntervalSince(publishedAt)
            let slowSoFar = h.subscriber!.requests.filter { $0.path == "/r0" }.count
            #expect(slowSoFar < 50, "the slow route is still busy when the others are done (\(slowSoFar) of \(perTopic + 300))")
            for i in 1..<16 {
                let got = h.subscriber!.requests.filter { $0.path == "/r\(i)" }.compactMap { ($0.json?["data"] as? [String: Any])?["topic"] as? Int }
                #expect(Set(got) == [i], "route /r\(i) got only its own topic's events: \(Set(got))")
            }
            print("many subscriptions (\(kind)): 16 ready after \(String(format: "%.1f", ready)) s; 15 fast routes done \(String(format: "%.1f", othersDone)) s after publishing while the slow one had \(slowSoFar) of \(perTopic + 300)")
        }
    }
}
