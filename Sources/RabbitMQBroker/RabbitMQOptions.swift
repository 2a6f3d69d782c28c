import BrokerKit
import CloudEvents
import Foundation
import Resources

/// `pubsub.rabbitmq` component metadata (spec §10.3). Where Dapr's docs and code disagree, these
/// follow the code: `durable` and `deletedWhenUnused` default to true, `reconnectWaitSeconds` to 3.
struct RabbitMQOptions: Sendable {
    struct Endpoint: Sendable, Equatable {
        var host = "localhost"
        var port = 5672
        var user = "guest"
        var password = "guest"
        var vhost = "/"
        /// TLS (`amqps`): the PEM texts to trust and to present; the server's certificate and host
        /// name are always verified.
        var tls: TLS?
    }

    struct TLS: Sendable, Equatable {
        var caCert: String?
        var clientCert: String?
        var clientKey: String?
    }

    var endpoint = Endpoint()
    var durable = true
    var deleteWhenUnused = true
    var autoAck = false
    /// Dead-lettering through `dlx-<queue>` instead of requeueing a message the app failed on.
    var enableDeadLetter = false
    var deliveryMode: UInt8 = 0
    var prefetchCount = 0
    var reconnectWaitSeconds = 3.0
    var heartbeatSeconds = 10
    var exchangeKind = "fanout"
    var maxLen: Int64?
    var maxLenBytes: Int64?
    /// Component-wide message TTL (per-publish `ttlInSeconds` wins).
    var ttlSeconds: Int64?
    /// RabbitMQ refuses an expiration above 2^32-1 ms with a channel error.
    static let maxTTLSeconds: Int64 = 4_294_967

    init(component: Component) throws(BrokerError) {
        let md = component.metadata
        let r = OptionReader(component)
        func fail(_ message: String) -> BrokerError { r.fail(message) }
        func bool(_ key: String) throws(BrokerError) -> Bool? { try r.bool(key) }
        func int(_ key: String) throws(BrokerError) -> Int64? { try r.int(key) }
        if let conn = md["connectionString"] ?? md["host"], !conn.isEmpty {
            endpoint = try Self.parse(conn, fail: fail)
        } else {
            if let p = md["protocol"], !p.isEmpty {
                guard p == "amqp" || p == "amqps" else { throw fail("protocol must be amqp or amqps, not '\(p)'") }
                if p == "amqps" { endpoint.tls = TLS(); endpoint.port = 5671 }
            }
            if let h = md["hostname"], !h.isEmpty {
                let parts = h.split(separator: ":")
                endpoint.host = String(parts[0])
                if parts.count == 2, let p = Int(parts[1]) { endpoint.port = p }
            }
            if let u = md["username"], !u.isEmpty { endpoint.user = u }
            if let p = md["password"] { endpoint.password = p }
        }
        if try bool("saslExternal") == true { throw fail("saslExternal is not supported yet; use username and password") }
        let ca = r.string("caCert"), cert = r.string("clientCert"), key = r.string("clientKey")
        if (cert == nil) != (key == nil) { throw fail("clientCert and clientKey must be set together") }
        if ca != nil || cert != nil {
            guard endpoint.tls != nil else { throw fail("caCert, clientCert and clientKey need an amqps connection (amqps:// or protocol amqps)") }
            endpoint.tls = TLS(caCert: ca, clientCert: cert, clientKey: key)
        }
        durable = try bool("durable") ?? true
        let legacyDelete = try bool("deleteWhenUnused")
        deleteWhenUnused = try bool("deletedWhenUnused") ?? legacyDelete ?? true
        autoAck = try bool("autoAck") ?? false
        enableDeadLetter = try bool("enableDeadLetter") ?? false
        if let m = try int("deliveryMode") {
            guard m <= 2 else { throw fail("deliveryMode must be 0, 1 or 2, not \(m)") }
            deliveryMode = UInt8(m)
        }
        prefetchCount = Int(try int("prefetchCount") ?? 0)
        let legacyWait = try r.seconds("reconnectWait")
        if let s = try r.seconds("reconnectWaitSeconds") ?? legacyWait { reconnectWaitSeconds = s }
        if let s = try r.seconds("heartBeat") { heartbeatSeconds = Int(s) }
        if let k = try r.choice("exchangeKind", ["fanout", "topic", "direct", "headers"]) { exchangeKind = k }
        maxLen = try int("maxLen")
        maxLenBytes = try int("maxLenBytes")
        ttlSeconds = try int("ttlInSeconds")
        if let t = ttlSeconds, t > Self.maxTTLSeconds { throw fail("ttlInSeconds must be at most \(Self.maxTTLSeconds) (RabbitMQ's limit), not \(t)") }
    }

    /// `amqp://user:password@host:port/vhost`.
    static func parse(_ s: String, fail: (String) -> BrokerError) throws(BrokerError) -> Endpoint {
        guard let url = URLComponents(string: s), let scheme = url.scheme else { throw fail("connectionString is not a URL: '\(s)'") }
        guard scheme == "amqp" || scheme == "amqps" else { throw fail("connectionString scheme must be amqp or amqps, not '\(scheme)'") }
        var e = Endpoint()
        if scheme == "amqps" {
            e.tls = TLS()
            e.port = 5671
        }
        if let h = url.host, !h.isEmpty { e.host = h }
        if let p = url.port { e.port = p }
        if let u = url.user { e.user = u.removingPercentEncoding ?? u }
        if let p = url.password { e.password = p.removingPercentEncoding ?? p }
        let path = url.path
        if path.count > 1 { e.vhost = String(path.dropFirst()).removingPercentEncoding ?? String(path.dropFirst()) }
        return e
    }
}
