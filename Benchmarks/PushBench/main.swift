import AsyncHTTPClient
import Delivery
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Drives a subscriber directly with Courier's delivery client (`AppChannel` over
/// `HTTP1ConnectionPool`) or with AsyncHTTPClient, `concurrency` requests in flight, 1 KB POSTs
/// to `/events` for `seconds`; prints requests per second.
/// Usage: PushBench PORT SECONDS CONCURRENCY pool|ahc
let args = CommandLine.arguments
let port = Int(args[1])!, seconds = Double(args[2])!, concurrency = Int(args[3])!, mode = args[4]
let body = ByteBuffer(string: #"{"orderId":1,"payload":""# + String(repeating: "x", count: 990) + #""}"#)
let count = Atomic<Int>(0)
let deadline = ContinuousClock.now + .seconds(seconds)
let client = HTTPClient(eventLoopGroupProvider: .singleton)
let channel = AppChannel(pool: HTTP1ConnectionPool(host: "127.0.0.1", port: port), apiToken: nil)
let headers: HTTPHeaders = ["content-type": "application/cloudevents+json", "pubsubname": "pubsub"]

await withTaskGroup(of: Void.self) { group in
    for _ in 0..<concurrency {
        group.addTask {
            while ContinuousClock.now < deadline {
                do {
                    if mode == "ahc" {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/events")
                        request.method = .POST
                        request.headers = headers
                        request.body = .bytes(body)
                        let response = try await client.execute(request, timeout: .seconds(60))
                        for try await _ in response.body {}
                        guard response.status == .ok else { continue }
                    } else {
                        let response = try await channel.send(method: .POST, path: "/events", headers: headers, body: body, timeout: 60)
                        guard response.status == 200 else { continue }
                    }
                    count.wrappingAdd(1, ordering: .relaxed)
                } catch {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                }
            }
        }
    }
}
print(Int(Double(count.load(ordering: .relaxed)) / seconds))
try await client.shutdown().get()
await channel.pool.shutdown()
