import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// App-less bridges (`forwardTo`): an input binding's messages go straight to output bindings,
/// and the source is acknowledged only once every target accepted. Nothing may be lost while a
/// target fails or Courier is killed; duplicates are allowed and counted.
@Suite(.serialized) struct BridgeTests {
    /// MQTT sensors → a Kafka topic, 10,000 messages, read back with confluent-kafka.
    @Test func mqttToKafkaCarriesTenThousandMessages() async throws {
        guard BrokerCtl.available() else { return }
        let id = UUID().uuidString.prefix(6)
        let mqttTopic = "sensors-\(id)/temperature", kafkaTopic = "sensors-\(id)"
        guard var source = BindingTests.brokerMetadata("mqtt", target: mqttTopic, group: ""),
              var sink = BindingTests.brokerMetadata("kafka", target: kafkaTopic, group: "g-\(id)") else { return }
        source += [("forwardTo", "kafka-out"), ("maxConcurrency", "32")]
        sink = sink.filter { $0.0 != "topics" } + [("direction", "output")]
        let total = 10_000
        let resources = ["mqtt-in.yaml": BindingTests.component("mqtt-in", "bindings.mqtt3", source),
                         "kafka-out.yaml": BindingTests.component("kafka-out", "bindings.kafka", sink)]
        try await withHarness(resources: resources, withApp: false) { h in
            let deadline = Date().addingTimeInterval(30)
            while !h.runtime.inputBindings.reading.contains("mqtt-in") && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            // The topic exists before the reader starts (one message that is not counted).
            #expect(try await h.request(.POST, "/v1.0/bindings/kafka-out", body: #"{"operation":"create","data":{"n":-1}}"#).status == 204)
            let consumer = try await BrokerCtl.consumer("kafka", kafkaTopic, count: total + 1, timeout: 120)
            let started = Date()
            try await BrokerCtl.produce("mqtt", mqttTopic, count: total)
            let read = await consumer.messages().compactMap { ($0["data"] as? String).flatMap { Data($0.utf8) } }
                .compactMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Int] }.compactMap { $0["n"] }.filter { $0 >= 0 }
            let distinct = Set(read)
            print("bridge mqtt → kafka: \(total) published, \(distinct.count) distinct in Kafka, \(read.count - distinct.count) duplicates, \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            #expect(distinct.count == total, "missing: \(Set(0..<total).subtracting(distinct).sorted().prefix(20))")
        }
    }

    /// A RabbitMQ queue → an HTTP service that answers 503 for its first 3 seconds: every one of
    /// 2,000 messages arrives once the service recovers.
    @Test func rabbitMQToHTTPSurvivesAFailingTarget() async throws {
        guard BrokerCtl.available() else { return }
        let queue = "orders-\(UUID().uuidString.prefix(6))"
        guard var source = BindingTests.brokerMetadata("rabbitmq", target: queue, group: "") else { return }
        source += [("forwardTo", "orders-service"), ("maxConcurrency", "16")]
        let total = 2_000
        let received = Mutex<[Int: Int]>([:])
        let failUntil = Mutex<Date?>(nil)
        let service = try await TestSubscriber(subscriptions: nil) { request, _ in
            if let until = failUntil.withLock({ $0 }), Date() < until { return (503, "") }
            if let n = request.json?["n"] as? Int { received.withLock { $0[n, default: 0] += 1 } }
            return (200, "")
        }
        let resources = ["orders-in.yaml": BindingTests.component("orders-in", "bindings.rabbitmq", source),
                         "orders-service.yaml": BindingTests.component("orders-service", "bindings.http",
                                                                       [("url", "http://127.0.0.1:\(service.port)/orders")])]
        try await withHarness(resources: resources, withApp: false) { h in
            let deadline = Date().addingTimeInterval(30)
            while !h.runtime.inputBindings.reading.contains("orders-in") && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            failUntil.withLock { $0 = Date().addingTimeInterval(3) }
            try await BrokerCtl.produce("rabbitmq", queue, count: total)
            let end = Date().addingTimeInterval(90)
            while received.withLock({ $0.count }) < total && Date() < end { try await Task.sleep(for: .milliseconds(100)) }
            let got = received.withLock { $0 }
            let duplicates = got.values.reduce(0) { $0 + $1 - 1 }
            print("bridge rabbitmq → http: \(total) published, \(got.count) distinct delivered, \(duplicates) duplicates, \(service.requests.count - got.values.reduce(0, +)) refused while failing")
            #expect(got.count == total, "missing: \(Set(0..<total).subtracting(got.keys).sorted().prefix(20))")
            #expect(service.requests.count > got.count, "the service refused some while failing")
        }
        await service.stop()
    }

    /// `kill -9` of Courier three times while a RabbitMQ → HTTP bridge carries 1,500 messages:
    /// every message the broker accepted reaches the service.
    @Test func killNineMidBridgeLosesNothing() async throws {
        guard BrokerCtl.available() else { return }
        let queue = "kill-\(UUID().uuidString.prefix(6))"
        guard var source = BindingTests.brokerMetadata("rabbitmq", target: queue, group: "") else { return }
        source += [("forwardTo", "svc"), ("maxConcurrency", "8")]
        let total = 1_500
        let received = Mutex<[Int: Int]>([:])
        let service = try await TestSubscriber(subscriptions: nil) { request, _ in
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...2)))
            if let n = request.json?["n"] as? Int { received.withLock { $0[n, default: 0] += 1 } }
            return (200, "")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-bridge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/resources", withIntermediateDirectories: true)
        try BindingTests.component("in", "bindings.rabbitmq", source).write(toFile: dir + "/resources/in.yaml", atomically: true, encoding: .utf8)
        try BindingTests.component("svc", "bindings.http", [("url", "http://127.0.0.1:\(service.port)/in")])
            .write(toFile: dir + "/resources/svc.yaml", atomically: true, encoding: .utf8)
        let httpPort = try PortAllocator.free()
        let args = ["--app-id", "bridge", "--dapr-http-port", "\(httpPort)", "--metrics-port", "\(try PortAllocator.free())",
                    "--resources-path", dir + "/resources", "--data-dir", dir + "/data"]
        var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        try await PortAllocator.waitUntilListening(httpPort)
        // Written by pika in batches while Courier is killed and restarted.
        let producer = Task.detached {
            for batch in 0..<15 {
                try await BrokerCtl.produce("rabbitmq", queue, count: 100, start: batch * 100)
                try await Task.sleep(for: .milliseconds(150))
            }
        }
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 500...900)))
            await courier.kill9()
            courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(httpPort)
        }
        try await producer.value
        let deadline = Date().addingTimeInterval(60)
        while received.withLock({ $0.count }) < total && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        await courier.terminate()
        await service.stop()
        let got = received.withLock { $0 }
        let duplicates = got.values.reduce(0) { $0 + $1 - 1 }
        print("bridge kill -9 (rabbitmq → http): \(total) accepted by RabbitMQ, 3 kill -9, \(got.count) distinct delivered, \(duplicates) duplicates")
        #expect(got.count == total, "missing: \(Set(0..<total).subtracting(got.keys).sorted().prefix(20))")
        if got.count == total { try? FileManager.default.removeItem(atPath: dir) }
    }
}
