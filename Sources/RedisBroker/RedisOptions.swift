import BrokerKit
import CloudEvents
import Resources

/// `pubsub.redis` component metadata (spec §10.5).
struct RedisOptions: Sendable {
    var endpoint: RedisConnection.Endpoint
    var processingTimeoutMs = 15_000
    var redeliverIntervalMs = 60_000
    var queueDepth = 100
    var maxLenApprox: Int?

    init(component: Component) throws(BrokerError) {
        let md = component.metadata
        func fail(_ message: String) -> BrokerError { BrokerError(.configuration, "\(component.name): \(message)") }
        guard let host = md["redisHost"], !host.isEmpty else { throw fail("redisHost is required (host:port)") }
        let parts = host.split(separator: ":")
        guard parts.count <= 2, let port = parts.count == 2 ? Int(parts[1]) : 6379 else { throw fail("redisHost must be host:port, not '\(host)'") }
        var db = 0
        if let d = md["redisDB"] {
            guard let n = Int(d), n >= 0 else { throw fail("redisDB must be a non-negative integer, not '\(d)'") }
            db = n
        }
        if let tls = md["enableTLS"], GoBool.parse(tls) == true { throw fail("enableTLS is not supported yet") }
        if let type = md["redisType"], type.lowercased() == "cluster" { throw fail("redisType cluster is not supported yet") }
        endpoint = .init(host: String(parts[0]), port: port, password: md["redisPassword"], username: md["redisUsername"], database: db)
        func duration(_ key: String) throws(BrokerError) -> Int? { try OptionReader(component).seconds(key).map { Int($0 * 1000) } }
        if let t = try duration("processingTimeout") { processingTimeoutMs = t }
        if let t = try duration("redeliverInterval") { redeliverIntervalMs = t }
        if let q = md["queueDepth"] {
            guard let n = Int(q), n > 0 else { throw fail("queueDepth must be a positive integer, not '\(q)'") }
            queueDepth = n
        }
        if let m = md["maxLenApprox"] {
            guard let n = Int(m), n > 0 else { throw fail("maxLenApprox must be a positive integer, not '\(m)'") }
            maxLenApprox = n
        }
    }
}
