import Foundation
import MQTTBroker
import Testing

/// libmosquitto waits with select(), which cannot watch a descriptor numbered 1024 or above. With
/// more than 1,100 descriptors open in the process (as a Courier serving a thousand clients has),
/// an MQTT pub/sub still connects and delivers: its socket takes a number from the low reserve.
@Suite struct MQTTDescriptorTests {
    @Test func mqttWorksWithMoreThan1024DescriptorsOpen() async throws {
        guard let pubsub = DurabilityTests.requiredComponent("mqtt") else { return }
        LowDescriptors.fill()  // what Courier's start-up does before anything else opens descriptors
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur >= 2_048 else {
            Issue.record("the soft descriptor limit (\(limit.rlim_cur)) is too low for this test")
            return
        }
        // Every free number below 1,100 taken, so a new socket would get a number above 1,024.
        var held: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { break }
            held.append(fd)
            if fd >= 1_100 { break }
        }
        defer { for fd in held { close(fd) } }
        #expect((held.last ?? 0) >= 1_100, "descriptors above 1,024 are in use")
        let topic = "mqttfd-\(UUID().uuidString.prefix(6))"
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: "[\(subscription(topic: topic, route: "/m"))]") { h in
            for _ in 0..<600 where !h.runtime.subscriptions.isReady { try await Task.sleep(for: .milliseconds(50)) }
            for n in 0..<5 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
            #expect(try await h.subscriber!.wait(for: 5, path: "/m", timeout: 30).count == 5)
        }
    }
}
