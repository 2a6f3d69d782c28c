import BrokerKit
import Foundation
import RabbitMQBroker
import Resources
import Testing

/// RabbitMQ options beyond the shared conformance cases (spec §10.3), against the real server.
@Suite struct RabbitMQOptionTests {
    func broker(_ url: String, _ extra: [String: String] = [:]) async throws -> RabbitMQBroker {
        var md = ["connectionString": url, "deliveryMode": "2", "deletedWhenUnused": "false"]
        md.merge(extra) { $1 }
        let b = try RabbitMQBroker(component: Component(name: "pubsub", type: "pubsub.rabbitmq", metadata: ComponentMetadata(md)), logger: BrokerFixture.logger)
        do {
            try await b.connect()
        } catch {
            await b.close()
            throw error
        }
        return b
    }

    /// Declares the group's queue, then stops consuming so messages wait in it.
    func declare(_ b: RabbitMQBroker, _ topic: String, _ metadata: [String: String] = [:]) async throws {
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g", metadata: metadata))
        await s.stop()
    }

    @Test func anUnroutablePublishIsRefusedNotSilentlyDropped() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url)
        await #expect(throws: BrokerError.self) { try await b.publish(BrokerMessage(topic: AdapterTest.topic("nobody"), payload: [1])) }
        await b.close()
    }

    @Test func perMessageTTLExpiresInTheQueue() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url)
        let topic = AdapterTest.topic("ttl")
        try await declare(b, topic)
        try await b.publish(BrokerMessage(topic: topic, payload: Array("short".utf8), metadata: ["ttlInSeconds": "1"]))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("long".utf8)))
        try await Task.sleep(for: .milliseconds(1500))
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        let got = try await AdapterTest.collect(s, max: 2, within: 2)
        #expect(got == ["long"])
        await b.close()
    }

    @Test func maxLenKeepsTheNewestAndPriorityGoesFirst() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url)
        let capped = AdapterTest.topic("maxlen")
        try await declare(b, capped, ["maxLen": "5"])
        for i in 0..<10 { try await b.publish(BrokerMessage(topic: capped, payload: Array("\(i)".utf8))) }
        let backlog = try await b.backlog(topic: capped, group: "g")
        #expect(backlog.undelivered == 5)
        let s = try await b.subscribe(SubscribeRequest(topic: capped, group: "g", metadata: ["maxLen": "5"]))
        #expect(try await AdapterTest.collect(s, max: 5, within: 3) == ["5", "6", "7", "8", "9"])

        let ranked = AdapterTest.topic("priority")
        try await declare(b, ranked, ["maxPriority": "10"])
        try await b.publish(BrokerMessage(topic: ranked, payload: Array("low".utf8), metadata: ["priority": "1"]))
        try await b.publish(BrokerMessage(topic: ranked, payload: Array("high".utf8), metadata: ["priority": "9"]))
        let p = try await b.subscribe(SubscribeRequest(topic: ranked, group: "g", metadata: ["maxPriority": "10"]))
        #expect(try await AdapterTest.collect(p, max: 2, within: 3) == ["high", "low"])
        await b.close()
    }

    @Test func routingKeysSelectWhatATopicExchangeDelivers() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url, ["exchangeKind": "topic"])
        let topic = AdapterTest.topic("routed")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g", metadata: ["routingKey": "eu.*,us.east"]))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("eu".utf8), metadata: ["routingKey": "eu.west"]))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("us".utf8), metadata: ["routingKey": "us.east"]))
        await #expect(throws: BrokerError.self, "no binding matches: returned as unroutable") {
            try await b.publish(BrokerMessage(topic: topic, payload: Array("asia".utf8), metadata: ["routingKey": "asia.x"]))
        }
        #expect(Set(try await AdapterTest.collect(s, max: 2, within: 3)) == ["eu", "us"])
        await b.close()
    }

    @Test func enableDeadLetterRejectsAFailedMessageToTheDeadLetterQueue() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url, ["enableDeadLetter": "true"])
        let topic = AdapterTest.topic("dlx")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("bad".utf8)))
        _ = try await AdapterTest.collect(s, max: 1, within: 3) { try await $0.nack(redeliverAfter: 0) }
        var dead = Backlog(undelivered: 0, inFlight: 0)
        for _ in 0..<20 where dead.undelivered == 0 {
            try await Task.sleep(for: .milliseconds(100))
            dead = try await b.backlog(topic: topic, group: "dlq-g")  // queue dlq-g-<topic>
        }
        #expect(dead.undelivered == 1)
        await b.close()
    }

    @Test func autoAckNeedsNoAcknowledgement() async throws {
        guard let url = AdapterTest.server("AMQP_URL") else { return }
        let b = try await broker(url, ["autoAck": "true"])
        let topic = AdapterTest.topic("autoack")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: [1]))
        _ = try await AdapterTest.collect(s, max: 1, within: 3) { _ in }  // never settled
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await b.backlog(topic: topic, group: "g").total == 0, "the broker forgot it on delivery (at most once)")
        await b.close()
    }

    @Test func tlsVerifiesTheServerAgainstTheGivenCA() async throws {
        guard let url = AdapterTest.server("AMQPS_URL"), let caFile = AdapterTest.server("RABBITMQ_CA_FILE") else { return }
        let ca = try String(contentsOfFile: caFile, encoding: .utf8)
        let b = try await broker(url, ["caCert": ca])
        let topic = AdapterTest.topic("tls")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("secret".utf8)))
        #expect(try await AdapterTest.collect(s, max: 1, within: 3) == ["secret"])
        await b.close()
        // The system trust store does not know the test CA: the handshake must fail.
        await #expect(throws: BrokerError.self) { _ = try await broker(url) }
    }

    @Test func badOptionsAreConfigurationErrors() {
        for md in [["connectionString": "amqps://x", "clientCert": "pem"], ["connectionString": "amqp://x", "caCert": "pem"], ["deliveryMode": "7"],
                   ["exchangeKind": "ring"], ["durable": "perhaps"], ["saslExternal": "true"], ["connectionString": "http://x"]] {
            #expect(throws: BrokerError.self, "\(md)") {
                try RabbitMQBroker(component: Component(name: "p", type: "pubsub.rabbitmq", metadata: ComponentMetadata(md)), logger: BrokerFixture.logger)
            }
        }
    }
}
