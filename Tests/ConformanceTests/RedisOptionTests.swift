import BrokerKit
import Foundation
import RedisBroker
import Resources
import Testing

/// Redis options beyond the shared conformance cases (spec §10.5), against a real server.
@Suite struct RedisOptionTests {
    func broker(port: Int, _ extra: [String: String]) throws -> RedisBroker {
        var md = ["redisHost": "127.0.0.1:\(port)"]
        md.merge(extra) { $1 }
        return try RedisBroker(component: Component(name: "pubsub", type: "pubsub.redis", metadata: ComponentMetadata(md)), logger: BrokerFixture.logger)
    }

    @Test func aPasswordProtectedServerNeedsRedisPassword() async throws {
        guard AdapterTest.server("REDIS_URL") != nil else { return }
        let port = 26_379 + Int.random(in: 0..<1000)
        let env = ["REDIS_PORT": "\(port)", "REDIS_PASSWORD": "s3cret",
                   "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("redis-auth-\(port)").path]
        try await BrokerScript.run(env: env, "start", "redis")
        do {
            let good = try broker(port: port, ["redisPassword": "s3cret"])
            try await good.connect()
            let topic = AdapterTest.topic("auth")
            let s = try await good.subscribe(SubscribeRequest(topic: topic, group: "g"))
            try await good.publish(BrokerMessage(topic: topic, payload: Array("in".utf8)))
            #expect(try await AdapterTest.collect(s, max: 1, within: 3) == ["in"])
            await good.close()
            let wrong = try broker(port: port, ["redisPassword": "guess"])
            await #expect(throws: BrokerError.self) { try await wrong.connect() }
            await wrong.close()
        } catch {
            try? await BrokerScript.run(env: env, "stop", "redis")
            throw error
        }
        try await BrokerScript.run(env: env, "stop", "redis")
    }

    @Test func unsupportedModesAreConfigurationErrors() {
        for md in [["enableTLS": "true"], ["redisType": "cluster"], ["queueDepth": "0"], ["processingTimeout": "soon"], ["redisDB": "-1"]] {
            #expect(throws: BrokerError.self, "\(md)") { try broker(port: 1, md) }
        }
    }
}
