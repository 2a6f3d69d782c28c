import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// HTTP calls from Courier to the app (`--app-channel-address`:`--app-port`), over pooled
/// keep-alive connections, with `dapr-api-token` when `APP_API_TOKEN` is set.
public struct AppChannel: Sendable {
    /// What the app answered.
    public struct Response: Sendable {
        public var status: Int
        /// The body, or its first `maxResponseBytes` when `truncated`.
        public var body: ByteBuffer
        /// The app sent more than `maxResponseBytes`; the rest was read and discarded.
        public var truncated = false
    }

    public let client: HTTPClient
    public let baseURL: String
    public let apiToken: String?
    /// Largest response body read from the app.
    public var maxResponseBytes = 4 * 1024 * 1024

    public init(client: HTTPClient, host: String, port: Int, apiToken: String?) {
        self.client = client
        self.baseURL = "http://\(host):\(port)"
        self.apiToken = apiToken
    }

    /// Sends one request. `path` gets a leading `/` if it lacks one. Throws on transport errors
    /// and on `timeout`.
    public func send(method: HTTPMethod, path: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil,
                     timeout: Double) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + (path.hasPrefix("/") ? path : "/" + path))
        request.method = method
        request.headers = headers
        if let apiToken { request.headers.replaceOrAdd(name: "dapr-api-token", value: apiToken) }
        if let body { request.body = .bytes(body) }
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(min(timeout, 86_400) * 1e9)))
        // The status decides; the body only matters up to `maxResponseBytes`. The rest is read
        // (so the connection stays reusable) but not kept.
        var body = ByteBuffer()
        var truncated = false
        for try await var chunk in response.body {
            let room = maxResponseBytes - body.readableBytes
            if chunk.readableBytes > room {
                truncated = true
                if room > 0, let head = chunk.readSlice(length: room) { body.writeImmutableBuffer(head) }
            } else if !truncated {
                body.writeBuffer(&chunk)
            }
        }
        return Response(status: Int(response.status.code), body: body, truncated: truncated)
    }
}
