import Foundation
import Hummingbird
import Synchronization

/// A minimal subscriber for benchmarks: answers every delivery with 200 and counts them.
/// `GET /count` returns the number received; `GET /dapr/subscribe` subscribes to the topic given
/// as the second argument on pubsub `pubsub`, at `/events` (bulk when the third argument is `bulk`).
/// A third argument `slow` answers each delivery after 300 ms; `hang` never answers (an app that
/// hangs, for the gateway isolation rows).
@main
struct BenchSink {
    static func main() async throws {
        let args = CommandLine.arguments
        let port = args.count > 1 ? Int(args[1]) ?? 3000 : 3000
        let topic = args.count > 2 ? args[2] : "e2e"
        let mode = args.count > 3 ? args[3] : ""
        let bulk = mode == "bulk"
        let counter = Counter()
        let router = Router()
        router.get("/dapr/subscribe") { _, _ -> Response in
            let extra = bulk ? #","bulkSubscribe":{"enabled":true,"maxMessagesCount":100,"maxAwaitDurationMs":10}"# : ""
            let body = #"[{"pubsubname":"pubsub","topic":"\#(topic)","route":"/events"\#(extra)}]"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/events") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 20)
            if bulk {
                // Count entries and acknowledge each.
                let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
                let entries = json?["entries"] as? [[String: Any]] ?? []
                counter.add(entries.count)
                let statuses = entries.map { #"{"entryId":"\#($0["entryId"] as? String ?? "")","status":"SUCCESS"}"# }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"statuses":[\#(statuses.joined(separator: ","))]}"#)))
            }
            switch mode {
            case "slow": try await Task.sleep(for: .milliseconds(300))
            case "hang": try await Task.sleep(for: .seconds(3600))
            default: break
            }
            counter.add(1)
            return Response(status: .ok)
        }
        router.get("/count") { _, _ in "\(counter.value)" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ n: Int) { count.wrappingAdd(n, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
