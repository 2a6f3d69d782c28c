import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// HTTP calls from Courier to the app (`--app-channel-address`:`--app-port`), over pooled
/// keep-alive connections, with `dapr-api-token` when `APP_API_TOKEN` is set.
public struct AppChannel: Sendable {
    /// What the app answered.
    public struct Response: Sendable {
        public var status: Int
        public var body: ByteBuffer
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
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout * 1e9)))
        let bytes = try await response.body.collect(upTo: maxResponseBytes)
        return Response(status: Int(response.status.code), body: bytes)
    }
}
