import BrokerKit
import CloudEvents
import Foundation
import Resources

/// `pubsub.jetstream` component metadata (spec §10.6).
struct JetStreamOptions: Sendable {
    enum DeliverPolicy: String, Sendable { case all, last, new, sequence, time }

    var url: String
    var name = "courier - pubsub.jetstream"
    var token: String?
    /// Decentralized authentication: the user's JWT and the nkey seed that signs the server's nonce.
    var credentials: NatsCredentials?
    var tlsClientCert: String?
    var tlsClientKey: String?
    /// The stream every topic of this component is stored in; `nil`: the stream whose subjects
    /// capture the topic, or one named after the topic, created when none does.
    var streamName: String?
    /// Whether Courier may create a stream (or add a subject to `streamName`); off with
    /// `disableEntityManagement`, where every subject must be captured by a stream already.
    var createStreams = true
    var durableName: String?
    var deliverPolicy = DeliverPolicy.all
    var startSequence: UInt64 = 0
    /// Unix seconds.
    var startTime: Int64 = 0
    /// Nanoseconds; 0 = server default (30 s).
    var ackWaitNanos: Int64 = 0
    var maxDeliver: Int64 = 0
    var maxAckPending: Int64 = 0
    var backOffNanos: [Int64] = []
    var replicas: Int64 = 0
    var memoryStorage = false

    init(component: Component) throws(BrokerError) {
        let md = component.metadata
        let r = OptionReader(component)
        func fail(_ message: String) -> BrokerError { r.fail(message) }
        func nanos(_ key: String) throws(BrokerError) -> Int64? { try r.seconds(key).map { Int64($0 * 1e9) } }
        func integer(_ key: String) throws(BrokerError) -> Int64? { try r.int(key) }
        guard let url = md["natsURL"], !url.isEmpty else { throw fail("natsURL is required (nats://host:4222)") }
        self.url = url
        if let n = md["name"], !n.isEmpty { name = n }
        token = md["token"].flatMap { $0.isEmpty ? nil : $0 }
        let jwt = md["jwt"].flatMap { $0.isEmpty ? nil : $0 }
        let seed = md["seedKey"].flatMap { $0.isEmpty ? nil : $0 }
        if (jwt == nil) != (seed == nil) { throw fail("jwt and seedKey must be set together (decentralized authentication)") }
        if let jwt, let seed {
            guard jwt.split(separator: ".").count == 3 else { throw fail("jwt is not a JWT (three dot-separated parts)") }
            guard seed.hasPrefix("SU") else { throw fail("seedKey must be a user nkey seed (it starts with SU)") }
            credentials = NatsCredentials(jwt: jwt, seed: seed)
        }
        tlsClientCert = md["tls_client_cert"]
        tlsClientKey = md["tls_client_key"]
        if (tlsClientCert == nil) != (tlsClientKey == nil) { throw fail("tls_client_cert and tls_client_key must be set together") }
        streamName = md["streamName"].flatMap { $0.isEmpty ? nil : $0 }
        createStreams = !(try r.bool("disableEntityManagement") ?? false)
        durableName = md["durableName"].flatMap { $0.isEmpty ? nil : $0 }
        if let p = md["deliverPolicy"], !p.isEmpty {
            guard let policy = DeliverPolicy(rawValue: p.lowercased()) else { throw fail("deliverPolicy must be all, last, new, sequence or time, not '\(p)'") }
            deliverPolicy = policy
        }
        if let s = try integer("startSequence") { startSequence = UInt64(s); if md["deliverPolicy"] == nil { deliverPolicy = .sequence } }
        if let t = try integer("startTime") { startTime = t; if md["deliverPolicy"] == nil { deliverPolicy = .time } }
        if deliverPolicy == .sequence && startSequence == 0 { throw fail("deliverPolicy sequence needs startSequence") }
        if deliverPolicy == .time && startTime == 0 { throw fail("deliverPolicy time needs startTime (Unix seconds)") }
        if let a = md["ackPolicy"], !a.isEmpty, a.lowercased() != "explicit" {
            throw fail("ackPolicy '\(a)' is not supported: Courier acknowledges each message explicitly")
        }
        ackWaitNanos = try nanos("ackWait") ?? 0
        maxDeliver = try integer("maxDeliver") ?? 0
        maxAckPending = try integer("maxAckPending") ?? 0
        replicas = try integer("replicas") ?? 0
        memoryStorage = try r.bool("memoryStorage") ?? false
        if let b = md["backOff"], !b.isEmpty {
            for part in b.split(separator: ",") {
                guard let s = GoDuration.parseSeconds(part.trimmingCharacters(in: .whitespaces)), s > 0 else {
                    throw fail("backOff must be a comma-separated list of durations, not '\(b)'")
                }
                backOffNanos.append(Int64(s * 1e9))
            }
        }
    }

    /// Stream, consumer and durable names may not contain `.`, `*`, `>` or whitespace.
    static func sanitize(_ name: String) -> String {
        String(name.map { ".*> \t/\\".contains($0) ? "_" : $0 })
    }
}
