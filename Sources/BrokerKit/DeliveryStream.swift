/// The pull side of a subscription, implemented by each adapter.
public protocol DeliverySource: Sendable {
    /// The next delivery, waiting until one is available; `nil` once the source is stopped.
    func next() async throws(BrokerError) -> Delivery?
    /// Stops handing out deliveries; pending `next()` calls return `nil`. Unsettled deliveries
    /// stay with the broker for redelivery.
    func stop() async
}

/// A subscription as an async sequence of deliveries. Iteration pulls from the broker, so a
/// consumer that stops pulling applies backpressure.
public struct DeliveryStream: AsyncSequence, Sendable {
    public typealias Element = Delivery
    public let source: any DeliverySource

    public init(source: any DeliverySource) {
        self.source = source
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let source: any DeliverySource
        public mutating func next() async throws(BrokerError) -> Delivery? {
            try await source.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }

    /// Stops the subscription.
    public func stop() async { await source.stop() }
}
