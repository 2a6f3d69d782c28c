import BrokerKit
import Foundation
import MQTTBroker
import Resources
import Testing

/// MQTT options beyond the shared conformance cases (spec §10.4), against the real server.
@Suite struct MQTTOptionTests {
    func broker(_ url: String, app: String, _ extra: [String: String] = [:]) async throws -> MQTTBroker {
        let id = "\(app)-\(UUID().uuidString.prefix(6))"
        var md = ["url": url, "consumerID": id]
        md.merge(extra) { $1 }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-\(id)").path
        return try await MQTTBroker(component: Component(name: "pubsub", type: "pubsub.mqtt3", metadata: ComponentMetadata(md)),
                                    appID: app, dataDirectory: dir, logger: BrokerFixture.logger)
    }

    @Test func replicasWithOneAppIdShareTheTopic() async throws {
        guard let url = AdapterTest.server("MQTT_URL") else { return }
        let app = "shared-\(UUID().uuidString.prefix(6))"
        let one = try await broker(url, app: app), two = try await broker(url, app: app)
        let topic = AdapterTest.topic("share")
        let a = try await one.subscribe(SubscribeRequest(topic: topic, group: app))
        let b = try await two.subscribe(SubscribeRequest(topic: topic, group: app))
        try await Task.sleep(for: .milliseconds(300))  // SUBACKs
        for i in 0..<40 { try await one.publish(BrokerMessage(topic: topic, payload: Array("\(i)".utf8))) }
        async let ga = AdapterTest.collect(a, max: 40, within: 3)
        async let gb = AdapterTest.collect(b, max: 40, within: 3)
        let (x, y) = try await (ga, gb)
        #expect(Set(x + y).count == 40 && x.count + y.count == 40, "each message once across both replicas")
        #expect(!x.isEmpty && !y.isEmpty, "both replicas got work: \(x.count) / \(y.count)")
        await one.close()
        await two.close()
    }

    @Test func wildcardsAndQoS2() async throws {
        guard let url = AdapterTest.server("MQTT_URL") else { return }
        let b = try await broker(url, app: "wild", ["qos": "2"])
        let root = AdapterTest.topic("sensors")
        let s = try await b.subscribe(SubscribeRequest(topic: "\(root)/+/temp", group: "wild"))
        try await Task.sleep(for: .milliseconds(300))
        try await b.publish(BrokerMessage(topic: "\(root)/kitchen/temp", payload: Array("21".utf8)))
        try await b.publish(BrokerMessage(topic: "\(root)/kitchen/humidity", payload: Array("40".utf8)))
        try await b.publish(BrokerMessage(topic: "\(root)/hall/temp", payload: Array("19".utf8)))
        #expect(try await AdapterTest.collect(s, max: 3, within: 2) == ["21", "19"])
        await b.close()
    }

    @Test func aRetainedMessageReachesALaterSubscriber() async throws {
        guard let url = AdapterTest.server("MQTT_URL") else { return }
        let publisher = try await broker(url, app: "retainer")
        let topic = AdapterTest.topic("retained")
        try await publisher.publish(BrokerMessage(topic: topic, payload: Array("last-known".utf8), metadata: ["retain": "true"]))
        let late = try await broker(url, app: "late")
        let s = try await late.subscribe(SubscribeRequest(topic: topic, group: "late"))
        #expect(try await AdapterTest.collect(s, max: 1, within: 2) == ["last-known"])
        try await publisher.publish(BrokerMessage(topic: topic, payload: [], metadata: ["retain": "true"]))  // clears it
        await publisher.close()
        await late.close()
    }

    @Test func tlsVerifiesTheServerAgainstTheGivenCA() async throws {
        guard let url = AdapterTest.server("MQTTS_URL"), let caFile = AdapterTest.server("MOSQUITTO_CA_FILE") else { return }
        let ca = try String(contentsOfFile: caFile, encoding: .utf8)
        let b = try await broker(url, app: "tls", ["caCert": ca])
        let topic = AdapterTest.topic("tls")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "tls"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("secret".utf8)))
        #expect(try await AdapterTest.collect(s, max: 1, within: 3) == ["secret"])
        await b.close()
        // The system trust store does not know the test CA: no connection.
        await #expect(throws: BrokerError.self) { _ = try await broker(url, app: "untrusted") }
    }

    @Test func badOptionsAreConfigurationErrors() async {
        for md in [["consumerID": "x"], ["url": "http://h:1"], ["url": "tcp://h:1", "qos": "3"], ["url": "tcp://h:1", "retain": "maybe"],
                   ["url": "ssl://h:1", "clientCert": "pem"]] {
            await #expect(throws: BrokerError.self, "\(md)") {
                _ = try await MQTTBroker(component: Component(name: "p", type: "pubsub.mqtt3", metadata: ComponentMetadata(md)),
                                         appID: "a", dataDirectory: FileManager.default.temporaryDirectory.path, logger: BrokerFixture.logger)
            }
        }
    }
}
