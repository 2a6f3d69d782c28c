import AsyncHTTPClient
import DaprProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import Synchronization

/// Publishes a 1 KB JSON event for `seconds` from `concurrency` tasks, once through Courier's gRPC
/// API (`PublishEvent`, one HTTP/2 connection) and once through its HTTP API (pooled HTTP/1.1),
/// and prints a Markdown row each: publishes/s, p50 and p99 latency.
/// Usage: GRPCBench HOST GRPC_PORT HTTP_PORT SECONDS CONCURRENCY
@main
struct GRPCBench {
    static func main() async throws {
        let a = CommandLine.arguments
        let host = a[1], grpcPort = Int(a[2])!, httpPort = Int(a[3])!, seconds = Double(a[4])!, concurrency = Int(a[5])!
        let body = Data(#"{"orderId":1,"payload":"\#(String(repeating: "x", count: 990))"}"#.utf8)

        let grpc = try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: host, port: grpcPort), transportSecurity: .plaintext)) { client in
            let dapr = Dapr_Proto_Runtime_V1_Dapr.Client(wrapping: client)
            var request = Dapr_Proto_Runtime_V1_PublishEventRequest()
            request.pubsubName = "pubsub"
            request.topic = "nosub"
            request.data = body
            request.dataContentType = "application/json"
            let message = request
            return try await run(seconds: seconds, concurrency: concurrency) { _ = try await dapr.publishEvent(message) }
        }
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let url = "http://\(host):\(httpPort)/v1.0/publish/pubsub/nosub"
        let httpResult = try await run(seconds: seconds, concurrency: concurrency) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await http.execute(request, timeout: .seconds(10))
            guard response.status.code == 204 else { throw CancellationError() }
        }
        try await http.shutdown()
        print("| single publish over gRPC (`PublishEvent`, \(concurrency) concurrent, one HTTP/2 connection) | \(Int(grpc.rate)) | HTTP publish, same client load: \(Int(httpResult.rate)) | \(String(format: "%.2f", grpc.rate / httpResult.rate)) |")
        print("| latency p50 / p99, gRPC vs HTTP | \(ms(grpc.p50)) / \(ms(grpc.p99)) ms | \(ms(httpResult.p50)) / \(ms(httpResult.p99)) ms | |")
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }

    struct Result: Sendable { var rate: Double; var p50: Double; var p99: Double }

    static func run(seconds: Double, concurrency: Int, _ call: @escaping @Sendable () async throws -> Void) async throws -> Result {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var own: [Double] = []
                    while ContinuousClock.now < deadline {
                        let start = ContinuousClock.now
                        try await call()
                        let d = ContinuousClock.now - start
                        own.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
                    }
                    return own
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        guard !latencies.isEmpty else { return Result(rate: 0, p50: 0, p99: 0) }
        return Result(rate: Double(latencies.count) / seconds, p50: latencies[latencies.count / 2],
                      p99: latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))])
    }
}
