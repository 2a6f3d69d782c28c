import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Publish → delivery latency at a fixed rate. Runs the subscriber itself (Hummingbird on SINK_PORT,
/// subscribing to `lat` on pubsub `pubsub` at `/events`), waits until Courier reports the
/// subscription, then publishes RATE events/s for SECONDS (each request scheduled on the clock, not
/// after the previous answer, so a slow moment is not hidden) carrying the monotonic send time; the
/// sink subtracts it on arrival. Prints one Markdown row: p50, p99, max and delivered/published.
/// Usage: LatencyBench LABEL COURIER_HTTP_PORT SINK_PORT RATE SECONDS
@main
struct LatencyBench {
    static func main() async throws {
        let a = CommandLine.arguments
        let label = a[1], api = Int(a[2])!, sinkPort = Int(a[3])!, rate = Int(a[4])!, seconds = Int(a[5])!
        let samples = Samples()
        let router = Router()
        router.get("/dapr/subscribe") { _, _ -> Response in
            let body = #"[{"pubsubname":"pubsub","topic":"lat","route":"/events"}]"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/events") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let now = monotonicNanos()
            if let sent = sentTime(in: body) { samples.add(now - sent) }
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: sinkPort)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await app.runService() }
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            try await waitForSubscription(client: client, api: api)
            let padding = String(repeating: "x", count: 960)
            let url = "http://127.0.0.1:\(api)/v1.0/publish/pubsub/lat"
            let published = Tally()
            // One second of warm-up, then the measured run.
            for phase in 0..<2 {
                if phase == 1 { try await Task.sleep(for: .milliseconds(500)); samples.reset(); published.reset() }
                let count = phase == 0 ? rate : rate * seconds
                let start = ContinuousClock.now
                try await withThrowingDiscardingTaskGroup { sends in
                    for i in 0..<count {
                        try await Task.sleep(until: start + .nanoseconds(Int64(i) * 1_000_000_000 / Int64(rate)), clock: .continuous)
                        sends.addTask {
                            var request = HTTPClientRequest(url: url)
                            request.method = .POST
                            request.headers.add(name: "content-type", value: "application/json")
                            request.body = .bytes(ByteBuffer(string: #"{"t":\#(monotonicNanos()),"pad":"\#(padding)"}"#))
                            let response = try await client.execute(request, timeout: .seconds(10))
                            if response.status.code == 204 { published.add() }
                        }
                    }
                }
            }
            let sent = published.value
            let deadline = ContinuousClock.now + .seconds(10)
            while samples.count < sent, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            let sorted = samples.sorted()
            func pct(_ p: Double) -> String {
                guard !sorted.isEmpty else { return "–" }
                let v = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
                return String(format: "%.2f", Double(v) / 1e6)
            }
            print("| \(label): publish → delivery latency at \(rate) msg/s for \(seconds) s, p50 / p99 / max | \(pct(0.5)) / \(pct(0.99)) / \(pct(1.0)) ms | \(sorted.count) of \(sent) delivered | aim p99 ≤ 2 ms |")
            try await client.shutdown()
            exit(0)
        }
    }

    static func waitForSubscription(client: HTTPClient, api: Int) async throws {
        for _ in 0..<600 {
            if let response = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(api)/v1.0/metadata"), timeout: .seconds(2)),
               let body = try? await response.body.collect(upTo: 1 << 20),
               String(buffer: body).contains(#""topic":"lat""#) {
                try await Task.sleep(for: .milliseconds(500))
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CancellationError()
    }

    /// The `"t":<digits>` field of the delivered CloudEvent's data.
    static func sentTime(in body: ByteBuffer) -> Int? {
        let bytes = body.readableBytesView
        let key = Array(#""t":"#.utf8)
        guard let start = bytes.firstRange(of: key)?.upperBound else { return nil }
        var value = 0
        var index = start
        while index < bytes.endIndex, let digit = bytes[index].wholeNumberValue { value = value * 10 + digit; index += 1 }
        return value
    }
}

func monotonicNanos() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

extension UInt8 {
    var wholeNumberValue: Int? { (48...57).contains(self) ? Int(self) - 48 : nil }
}

final class Samples: Sendable {
    private let values = Mutex<[Int]>([])
    func add(_ v: Int) { values.withLock { $0.append(v) } }
    func reset() { values.withLock { $0.removeAll(keepingCapacity: true) } }
    var count: Int { values.withLock { $0.count } }
    func sorted() -> [Int] { values.withLock { $0.sorted() } }
}

final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.wrappingAdd(1, ordering: .relaxed) }
    func reset() { count.store(0, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
