import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Seeded fuzzing of a running Courier, as a hostile client and a faulty subscriber would treat it.
///
/// Sends `count` requests from 16 connections: random methods on every API route (except
/// `/v1.0/shutdown`), random path segments, query metadata (huge and negative numbers, odd keys),
/// headers and bodies (valid and mutated CloudEvents, bulk arrays, deep nesting, invalid UTF-8,
/// huge numbers), and one in ten as mutated raw HTTP/1.1 bytes over a plain socket. It is also the
/// app: subscribed to the topics it publishes to (one with a CEL rule), answering deliveries with
/// random statuses and bodies. A run fails if Courier dies or hangs, answers a 5xx, or answers an
/// error without Dapr's `{errorCode, message}` body; the seed reproduces a failing run exactly.
/// Usage: CourierFuzz COURIER_HTTP_PORT APP_PORT COUNT SEED
@main
struct CourierFuzz {
    static func main() async throws {
        let a = CommandLine.arguments
        let api = Int(a[1])!, appPort = Int(a[2])!, count = Int(a[3])!, seed = UInt64(a[4])!
        let deliveries = Tally()
        let app = Application(router: appRouter(seed: seed, deliveries: deliveries),
                              configuration: .init(address: .hostname("127.0.0.1", port: appPort)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await app.runService() }
            let failures = try await fuzz(api: api, count: count, seed: seed)
            let delivered = deliveries.value
            print("fuzz: \(count) requests, seed \(seed): \(failures.count) failures; \(delivered) deliveries answered by the fuzzing app")
            for f in failures.prefix(20) { print("  FAIL \(f)") }
            exit(failures.isEmpty ? 0 : 1)
        }
    }

    /// The app: subscriptions, and deliveries answered at random (including bodies no app should send).
    static func appRouter(seed: UInt64, deliveries: Tally) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/dapr/subscribe") { _, _ -> Response in
            let body = #"[{"pubsubname":"pubsub","topic":"fuzz","route":"/events"},"# +
                #"{"pubsubname":"pubsub","topic":"fuzz-rules","routes":{"rules":[{"match":"event.data.n > 5 && event.type == 'com.dapr.event.sent'","path":"/big"}],"default":"/events"},"deadLetterTopic":"fuzz-dead"},"# +
                #"{"pubsubname":"pubsub","topic":"fuzz-bulk","route":"/bulk","bulkSubscribe":{"enabled":true,"maxMessagesCount":7,"maxAwaitDurationMs":20}}]"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let answers: [(HTTPResponse.Status, String)] = [
            (.ok, ""), (.ok, #"{"status":"SUCCESS"}"#), (.ok, #"{"status":"RETRY"}"#), (.ok, #"{"status":"DROP"}"#),
            (.ok, #"{"status":"WHAT"}"#), (.ok, #"{"status":12}"#), (.ok, "not json"), (.ok, #"{"statuses":[{"entryId":"x","status":"SUCCESS"}]}"#),
            (.notFound, ""), (.internalServerError, "boom"), (.badRequest, #"{"status":"DROP"}"#), (.noContent, ""),
        ]
        let counter = Mutex(SplitMix(seed: seed ^ 0xA5A5))
        for path in ["/events", "/big", "/bulk"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                var request = request
                _ = try? await request.collectBody(upTo: 8 << 20)
                deliveries.add()
                let (status, body) = counter.withLock { answers[Int($0.next() % UInt64(answers.count))] }
                return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: body)))
            }
        }
        return router
    }

    static func fuzz(api: Int, count: Int, seed: UInt64) async throws -> [String] {
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        config.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let failures = Failures()
        let workers = 16
        // Courier is starting beside us: wait until it answers.
        for _ in 0..<600 {
            if (try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(api)/v1.0/healthz"), timeout: .seconds(2))) != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var i = w
                    while i < count {
                        // Each request's content depends only on (seed, i), whatever the scheduling.
                        let requestSeed = SplitMix(seed: seed ^ (UInt64(i) &* 0xD1B5_4A32_D192_ED03)).peek()
                        var r = SplitMix(seed: requestSeed)
                        let problem: String?
                        if r.next() % 10 == 0 {
                            problem = await RawFuzz.fuzz(port: api, rng: &r)
                        } else {
                            problem = await APIFuzz.send(client: client, port: api, rng: &r)
                        }
                        if let problem { failures.add("request \(i): \(problem)") }
                        i += workers
                    }
                }
            }
            try await group.waitForAll()
        }
        // Courier must still answer, and still publish.
        var health = HTTPClientRequest(url: "http://127.0.0.1:\(api)/v1.0/healthz")
        health.method = .GET
        let alive = (try? await client.execute(health, timeout: .seconds(10)).status.code) ?? 0
        if alive != 204 { failures.add("healthz answered \(alive) after the run") }
        var publish = HTTPClientRequest(url: "http://127.0.0.1:\(api)/v1.0/publish/pubsub/fuzz")
        publish.method = .POST
        publish.headers.add(name: "content-type", value: "application/json")
        publish.body = .bytes(ByteBuffer(string: #"{"after":"fuzz"}"#))
        let published = (try? await client.execute(publish, timeout: .seconds(10)).status.code) ?? 0
        if published != 204 { failures.add("a valid publish answered \(published) after the run") }
        try await client.shutdown()
        return failures.all
    }
}

final class Failures: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ failure: String) { list.withLock { $0.append(failure) } }
    var all: [String] { list.withLock { $0 } }
}

final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.wrappingAdd(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A small, fast, seedable generator (SplitMix64).
struct SplitMix: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// The next value, without advancing.
    func peek() -> UInt64 { var copy = self; return copy.next() }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
    mutating func chance(_ percent: Int) -> Bool { int(100) < percent }
}
