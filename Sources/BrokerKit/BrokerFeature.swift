/// Optional capabilities a broker declares, named as Dapr names them in the metadata API.
public enum BrokerFeature: String, Sendable, Hashable, CaseIterable {
    /// The broker enforces per-message TTL itself; no `expiration` is added to envelopes.
    case messageTTL = "MESSAGE_TTL"
    /// Topic wildcards in subscriptions.
    case subscribeWildcards = "SUBSCRIBE_WILDCARDS"
    /// Native bulk publish / subscribe.
    case bulkPubSub = "BULK_PUBSUB"
}
