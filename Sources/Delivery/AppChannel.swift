import NIOCore
import NIOHTTP1

/// HTTP calls from Courier to the app (`--app-channel-address`:`--app-port`), over pooled
/// keep-alive connections (`HTTP1ConnectionPool`), with `dapr-api-token` when `APP_API_TOKEN` is set.
public struct AppChannel: Sendable {
    /// What the app answered.
    public struct Response: Sendable {
        public var status: Int
        /// The body, or its first `maxResponseBytes` when `truncated`.
        public var body: ByteBuffer
        /// The app sent more than `maxResponseBytes`; the rest was read and discarded.
        public var truncated = false
    }

    public let pool: HTTP1ConnectionPool
    public let apiToken: String?
    /// Largest response body read from the app.
    public var maxResponseBytes = 4 * 1024 * 1024
    private let hostHeader: String
    /// `http://host:port`, for log lines.
    public var baseURL: String { "\(pool.tls == nil ? "http" : "https")://\(hostHeader)" }

    public init(pool: HTTP1ConnectionPool, apiToken: String?) {
        self.pool = pool
        self.apiToken = apiToken
        self.hostHeader = pool.host.contains(":") ? "[\(pool.host)]:\(pool.port)" : "\(pool.host):\(pool.port)"
    }

    /// Sends one request. `path` gets a leading `/` if it lacks one. Throws on transport errors
    /// and on `timeout`. The status decides; the body only matters up to `maxResponseBytes`, the
    /// rest is read (so the connection stays reusable) but not kept.
    public func send(method: HTTPMethod, path: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil,
                     timeout: Double) async throws -> Response {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path.hasPrefix("/") ? path : "/" + path, headers: headers)
        head.headers.add(name: "host", value: hostHeader)
        if let apiToken { head.headers.replaceOrAdd(name: "dapr-api-token", value: apiToken) }
        if body != nil || method == .POST || method == .PUT {
            head.headers.replaceOrAdd(name: "content-length", value: String(body?.readableBytes ?? 0))
        }
        let nanoseconds = Int64(min(max(timeout, 0.001), 86_400) * 1e9)
        return try await pool.execute(head: head, body: body, maxResponseBytes: maxResponseBytes, timeout: .nanoseconds(nanoseconds))
    }
}
