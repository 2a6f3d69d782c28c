import BrokerKit
import Foundation
import CloudEvents
import Resources

/// `pubsub.kafka` component metadata (spec §10.2), turned into librdkafka configuration.
///
/// Courier extension: any `librdkafka.<property>` metadata key is passed to librdkafka as is
/// (for both the producer and the consumers), for settings Dapr's metadata does not name.
struct KafkaOptions: Sendable {
    /// Properties shared by producer and consumers (brokers, client id, security, pass-through).
    var common: [(String, String)] = []
    var producer: [(String, String)] = []
    var consumer: [(String, String)] = []
    /// `librdkafka.*` metadata, applied last so it overrides Courier's defaults.
    var passthrough: [(String, String)] = []

    /// Everything a producer handle is built from.
    var producerProperties: [(String, String)] { common + producer + passthrough }
    /// Everything a consumer handle of `group` is built from.
    func consumerProperties(group: String) -> [(String, String)] { common + consumer + [("group.id", group)] + passthrough }
    /// What short-lived admin and metadata handles are built from.
    var adminProperties: [(String, String)] { common + passthrough }
    /// Overrides the subscription's group (the consumer id) when set.
    var consumerGroup: String?
    /// Deliveries waiting for the subscriber before Courier stops taking records from librdkafka.
    var channelBufferSize = 256
    /// How long a revoked partition's in-flight deliveries may take to finish before they are
    /// abandoned to the partition's next owner.
    var revokeGraceSeconds = 5.0

    init(component: Component) throws(BrokerError) {
        let md = component.metadata
        let r = OptionReader(component)
        func fail(_ message: String) -> BrokerError { r.fail(message) }
        func milliseconds(_ key: String) throws(BrokerError) -> String? { try r.seconds(key).map { String(Int($0 * 1000)) } }
        func positive(_ key: String) throws(BrokerError) -> Int? { try r.int(key, minimum: 1).map { Int($0) } }

        guard let brokers = md["brokers"], !brokers.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw fail("brokers is required (comma-separated host:port)")
        }
        if let registry = md["schemaRegistryURL"], !registry.isEmpty {
            throw fail("schemaRegistryURL (Avro through a schema registry) is not supported")
        }
        common.append(("bootstrap.servers", brokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ",")))
        common.append(("client.id", md["clientID"].flatMap { $0.isEmpty ? nil : $0 } ?? "courier"))
        try common.append(contentsOf: Self.security(md, fail: fail))

        // Producer: idempotent, every in-sync replica must have the message before 204.
        switch (md["producerRequiredAcks"] ?? "all").lowercased() {
        case "all", "-1", "waitforall": producer.append(("enable.idempotence", "true")); producer.append(("acks", "all"))
        case "local", "1", "waitforlocal": producer.append(("acks", "1"))
        case "none", "0", "noresponse": producer.append(("acks", "0"))
        case let other: throw fail("producerRequiredAcks must be all, local or none, not '\(other)'")
        }
        // A publish waits for its delivery report, so batching delay is latency: 1 ms still lets
        // concurrent publishes share a request (5 ms, librdkafka's default, cut throughput to a third).
        producer.append(("linger.ms", "1"))
        // Unset, Courier allows what a default Kafka broker accepts (message.max.bytes 1048588)
        // rather than Sarama's 1000000, so a 1 MB event is not refused by the client alone.
        producer.append(("message.max.bytes", String(try positive("maxMessageBytes") ?? 1_048_588)))
        if let r = md["producerRetryMax"], let n = Int(r), n >= 0, md["producerRequiredAcks"].map({ $0.lowercased() != "all" }) ?? false {
            producer.append(("retries", String(n)))
        }
        if let c = md["compression"], !c.isEmpty, c != "none" {
            guard ["gzip", "snappy", "lz4", "zstd"].contains(c) else { throw fail("compression must be none, gzip, snappy, lz4 or zstd, not '\(c)'") }
            producer.append(("compression.type", c))
        }

        // Consumer: manual commits of acknowledged offsets only.
        consumerGroup = md["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 }
        switch (md["initialOffset"] ?? "newest").lowercased() {
        case "newest", "latest": consumer.append(("auto.offset.reset", "latest"))
        case "oldest", "earliest": consumer.append(("auto.offset.reset", "earliest"))
        case let other: throw fail("initialOffset must be newest or oldest, not '\(other)'")
        }
        consumer.append(("enable.auto.commit", "false"))
        consumer.append(("enable.auto.offset.store", "false"))
        consumer.append(("allow.auto.create.topics", "true"))
        consumer.append(("session.timeout.ms", try milliseconds("sessionTimeout") ?? "10000"))
        consumer.append(("heartbeat.interval.ms", try milliseconds("heartbeatInterval") ?? "3000"))
        if let n = try positive("consumerFetchMin") { consumer.append(("fetch.min.bytes", String(n))) }
        if let n = try positive("consumerFetchDefault") { consumer.append(("fetch.message.max.bytes", String(n))) }
        if let n = try positive("channelBufferSize") { channelBufferSize = n }
        if let ms = try milliseconds("clientConnectionTopicMetadataRefreshInterval") { common.append(("topic.metadata.refresh.interval.ms", ms)) }

        for item in md.items where item.name.hasPrefix("librdkafka.") {
            passthrough.append((String(item.name.dropFirst("librdkafka.".count)), item.value))
        }
    }

    /// authType → security.protocol and SASL/TLS properties.
    private static func security(_ md: ComponentMetadata, fail: (String) -> BrokerError) throws(BrokerError) -> [(String, String)] {
        var out: [(String, String)] = []
        var authType = md["authType"]?.lowercased() ?? ""
        if authType.isEmpty {
            if let legacy = md["authRequired"], GoBool.parse(legacy) == true { authType = "password" } else { authType = "none" }
        }
        let disableTLS = md["disableTls"].flatMap(GoBool.parse) ?? false
        var tls = !disableTLS && (authType != "none" || md["caCert"] != nil)
        switch authType {
        case "none":
            break
        case "password":
            guard let user = md["saslUsername"], let password = md["saslPassword"] else { throw fail("authType password needs saslUsername and saslPassword") }
            let mechanism: String
            switch (md["saslMechanism"] ?? "PLAINTEXT").uppercased() {
            case "PLAINTEXT", "PLAIN", "": mechanism = "PLAIN"
            case "SHA-256", "SCRAM-SHA-256": mechanism = "SCRAM-SHA-256"
            case "SHA-512", "SCRAM-SHA-512": mechanism = "SCRAM-SHA-512"
            case let other: throw fail("saslMechanism must be PLAINTEXT, SHA-256 or SHA-512, not '\(other)'")
            }
            out += [("sasl.mechanisms", mechanism), ("sasl.username", user), ("sasl.password", password)]
        case "mtls":
            guard let cert = md["clientCert"], let key = md["clientKey"] else { throw fail("authType mtls needs clientCert and clientKey") }
            out += [("ssl.certificate.pem", cert), ("ssl.key.pem", key)]
            tls = true
        case "oidc":
            guard let endpoint = md["oidcTokenEndpoint"], let id = md["oidcClientID"], let secret = md["oidcClientSecret"] else {
                throw fail("authType oidc needs oidcTokenEndpoint, oidcClientID and oidcClientSecret")
            }
            out += [("sasl.mechanisms", "OAUTHBEARER"), ("sasl.oauthbearer.method", "oidc"),
                    ("sasl.oauthbearer.token.endpoint.url", endpoint), ("sasl.oauthbearer.client.id", id),
                    ("sasl.oauthbearer.client.secret", secret),
                    ("sasl.oauthbearer.scope", (md["oidcScopes"] ?? "openid").split(separator: ",").joined(separator: " "))]
        case let other:
            throw fail("authType '\(other)' is not supported (none, password, mtls, oidc)")
        }
        if let ca = md["caCert"] { out.append(("ssl.ca.pem", ca)) }
        if let skip = md["skipVerify"], GoBool.parse(skip) == true { out.append(("enable.ssl.certificate.verification", "false")) }
        let sasl = authType == "password" || authType == "oidc"
        out.append(("security.protocol", sasl ? (tls ? "SASL_SSL" : "SASL_PLAINTEXT") : (tls ? "SSL" : "PLAINTEXT")))
        return out
    }
}
