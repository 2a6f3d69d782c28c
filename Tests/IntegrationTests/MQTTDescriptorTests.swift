import Foundation
import Testing

/// libmosquitto waits with select(), which cannot watch a descriptor numbered 1024 or above. A
/// `courier` process holding 1,100 client connections gains an MQTT pub/sub by a live reload: its
/// client connects (its socket pair and socket take numbers from the low reserve) and delivers.
/// In a child process: the test process's own descriptors must stay below 1,024 for the MQTT
/// clients of the tests running beside it.
@Suite struct MQTTDescriptorTests {
    @Test func mqttConnectsWhileCourierHoldsMoreThan1024Descriptors() async throws {
        guard let mqtt = DurabilityTests.requiredComponent("mqtt") else { return }
        let topic = "mqttfd-\(UUID().uuidString.prefix(6))"
        let dir = try DurabilityTests.resources(topic: topic + "-embedded")
        let subscriber = try await TestSubscriber(subscriptions: nil)
        let port = try PortAllocator.free()
        let courier = try CourierProcess(arguments: ["--app-id", "mqttfd", "--app-port", "\(subscriber.port)", "--dapr-http-port", "\(port)",
                                                     "--metrics-port", "\(try PortAllocator.free())", "--resources-path", dir + "/resources",
                                                     "--data-dir", dir + "/data"], log: dir + "/courier.log")
        try await PortAllocator.waitUntilListening(port)
        var holders: [DescriptorExhaustionTests.HeldConnections] = []
        do {
            holders.append(try await BrokerCtl.offPool { try DescriptorExhaustionTests.HeldConnections(port: port, count: 1100, arguments: ["--idle"]) })
            let held = DescriptorExhaustionTests.descriptors(courier.pid)
            #expect(held > 1100, "Courier holds the clients: \(held)")
            try mqtt.replacingOccurrences(of: "name: pubsub", with: "name: mqttps")
                .write(toFile: dir + "/resources/mqtt.yaml", atomically: true, encoding: .utf8)
            try "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: { name: m }\nspec: { pubsubname: mqttps, topic: \(topic), routes: { default: /m } }\n"
                .write(toFile: dir + "/resources/m.yaml", atomically: true, encoding: .utf8)
            try await DurabilityTests.waitForSubscription(topic, port: port)
            for n in 0..<5 {
                let status = try await BrokerCtl.offPool {
                    try RawHTTP.exchange(port: port, "POST /v1.0/publish/mqttps/\(topic) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"n\":\(n)}", timeout: 10)
                }
                #expect(status.hasPrefix("HTTP/1.1 204"), "\(status.prefix(80))")
            }
            #expect(try await subscriber.wait(for: 5, path: "/m", timeout: 30).count == 5, "delivered through the MQTT client made with 1,100 descriptors open")
        } catch {
            holders.forEach { $0.release() }
            await courier.terminate()
            await subscriber.stop()
            throw error
        }
        holders.forEach { $0.release() }
        await courier.terminate()
        await subscriber.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
