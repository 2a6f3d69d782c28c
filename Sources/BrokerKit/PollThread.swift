import Foundation
import Synchronization

/// A dedicated OS thread that runs `body` until stopped, then `finish`: the home of one
/// C client's blocking calls and callbacks (a poll loop, a blocking read), so they never run on
/// the cooperative pool.
public final class PollThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let done = Mutex<(finished: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Starts the thread. `body` is called repeatedly and should block briefly (a poll timeout).
    /// What the closures capture lives until `stop` has returned: an owner that is dropped without
    /// being stopped leaks its thread rather than crashing it.
    public init(name: String, body: @escaping @Sendable () -> Void, finish: @escaping @Sendable () -> Void) {
        let thread = Thread {
            while !self.stopping.load(ordering: .acquiring) { body() }
            finish()
            let waiters = self.done.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }
        thread.name = name
        thread.start()
    }

    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Asks the loop to end and waits until `finish` has run.
    public func stop() async {
        stopping.store(true, ordering: .releasing)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = done.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}
