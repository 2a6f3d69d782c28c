import Resources
import Synchronization

/// The streaming subscriptions open right now, for `GET /v1.0/metadata` (type `STREAMING`).
public final class StreamingSubscriptions: Sendable {
    private let open = Mutex<[Int: SubscriptionSpec]>([:])
    private let next = Atomic<Int>(0)

    public init() {}

    public var active: [SubscriptionSpec] { open.withLock { $0.sorted { $0.key < $1.key }.map(\.value) } }

    func add(_ spec: SubscriptionSpec) -> Int {
        let id = next.wrappingAdd(1, ordering: .relaxed).newValue
        open.withLock { $0[id] = spec }
        return id
    }

    func remove(_ id: Int) { open.withLock { _ = $0.removeValue(forKey: id) } }
}
