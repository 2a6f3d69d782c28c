import Synchronization

/// Whether deliveries to an app may go ahead: open while it is healthy, closed while its health
/// checks say it is not. A subscription whose delivery failed while the gate is closed returns the
/// message to the broker instead of dead-lettering it, and an input binding's message waits at
/// the gate. `abandon` (the app is removed or Courier stops) releases every waiter for good.
public final class AppAvailability: Sendable {
    private struct State {
        var open = true
        var abandoned = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// True while deliveries may go ahead.
    public var isOpen: Bool { state.withLock { $0.open } }

    /// The app became unhealthy.
    public func close() {
        state.withLock { $0.open = false }
    }

    /// The app answers again: every waiter goes ahead.
    public func open() {
        release { $0.open = true }
    }

    /// Nothing will be delivered any more: every waiter, now and later, is told to give up.
    public func abandon() {
        release { $0.abandoned = true }
    }

    /// Applies `change`, then answers every waiter: go ahead unless abandoned.
    private func release(_ change: (inout State) -> Void) {
        let (waiters, go) = state.withLock { s -> ([CheckedContinuation<Bool, Never>], Bool) in
            change(&s)
            defer { s.waiters = [:] }
            return (Array(s.waiters.values), !s.abandoned)
        }
        for waiter in waiters { waiter.resume(returning: go) }
    }

    /// Waits until the gate is open: true to go ahead, false when abandoned or cancelled.
    public func waitUntilOpen() async -> Bool {
        let id = state.withLock { s -> Int? in
            if s.abandoned { return nil }
            if s.open { return -1 }
            s.next += 1
            return s.next
        }
        guard let id else { return false }
        guard id >= 0 else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { s -> Bool? in
                    if s.abandoned || Task.isCancelled { return false }
                    if s.open { return true }
                    s.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }
}
