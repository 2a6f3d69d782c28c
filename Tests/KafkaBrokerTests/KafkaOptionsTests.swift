@testable import KafkaBroker
import BrokerKit
import Resources
import Testing

@Suite struct KafkaOptionsTests {
    func options(_ md: [String: String]) throws(BrokerError) -> KafkaOptions {
        try KafkaOptions(component: Component(name: "k", type: "pubsub.kafka", metadata: ComponentMetadata(md)))
    }

    func value(_ pairs: [(String, String)], _ key: String) -> String? { pairs.last { $0.0 == key }?.1 }

    @Test func defaultsFollowDaprAndKeepAcknowledgedPublishesSafe() throws {
        let o = try options(["brokers": "a:9092, b:9092", "authType": "none"])
        #expect(value(o.common, "bootstrap.servers") == "a:9092,b:9092")
        #expect(value(o.common, "security.protocol") == "PLAINTEXT")
        #expect(value(o.producer, "acks") == "all")
        #expect(value(o.producer, "enable.idempotence") == "true")
        #expect(value(o.consumer, "auto.offset.reset") == "latest", "initialOffset defaults to newest")
        #expect(value(o.consumer, "enable.auto.commit") == "false")
        #expect(value(o.consumer, "session.timeout.ms") == "10000")
        #expect(value(o.consumer, "heartbeat.interval.ms") == "3000")
        #expect(value(o.producerProperties, "linger.ms") == "1")
    }

    @Test func optionsMapToLibrdkafkaProperties() throws {
        let o = try options(["brokers": "a:1", "authType": "password", "saslUsername": "u", "saslPassword": "p", "saslMechanism": "SHA-512",
                             "initialOffset": "oldest", "sessionTimeout": "6s", "maxMessageBytes": "2048", "consumerGroup": "grp",
                             "compression": "lz4", "librdkafka.linger.ms": "7", "librdkafka.fetch.wait.max.ms": "100"])
        #expect(value(o.common, "security.protocol") == "SASL_SSL")
        #expect(value(o.common, "sasl.mechanisms") == "SCRAM-SHA-512")
        #expect(value(o.producerProperties, "linger.ms") == "7", "the pass-through overrides Courier's default")
        #expect(value(o.consumer, "auto.offset.reset") == "earliest")
        #expect(value(o.consumer, "session.timeout.ms") == "6000")
        #expect(value(o.producer, "message.max.bytes") == "2048")
        #expect(value(o.producer, "compression.type") == "lz4")
        #expect(o.consumerGroup == "grp")
        #expect(value(o.consumerProperties(group: "g"), "fetch.wait.max.ms") == "100")
        #expect(value(o.consumerProperties(group: "g"), "group.id") == "g")
        let plain = try options(["brokers": "a:1", "authType": "password", "saslUsername": "u", "saslPassword": "p", "disableTls": "true"])
        #expect(value(plain.common, "security.protocol") == "SASL_PLAINTEXT")
    }

    @Test func badMetadataIsAConfigurationError() {
        for md in [["authType": "none"], ["brokers": "a:1", "authType": "awsiam"], ["brokers": "a:1", "initialOffset": "middle"],
                   ["brokers": "a:1", "authType": "password"], ["brokers": "a:1", "sessionTimeout": "soon"],
                   ["brokers": "a:1", "producerRequiredAcks": "some"], ["brokers": "a:1", "compression": "zip"],
                   ["brokers": "a:1", "schemaRegistryURL": "http://r"]] {
            #expect(throws: BrokerError.self, "\(md)") { try options(md) }
        }
    }

    @Test func anUnknownLibrdkafkaPropertyIsRefusedWhenTheHandleIsBuilt() throws {
        let o = try options(["brokers": "a:1", "librdkafka.no.such.property": "1"])
        #expect(throws: BrokerError.self) { try KafkaBroker(component: Component(name: "k", type: "pubsub.kafka",
            metadata: ComponentMetadata(["brokers": "a:1", "librdkafka.no.such.property": "1"])), logger: .init(label: "t")) }
        _ = o
    }
}
