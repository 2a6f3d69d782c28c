import Logging
import ServiceLifecycle
import Synchronization

/// The apps Courier serves, as a service whose set changes while it runs: each app runs in a
/// child task of its own, an added app starts without touching the others, and a removed one
/// stops taking messages, drains, and closes its connections.
final class AppFleet: Service, Sendable {
    private struct State {
        /// In order: the flag app first, then `App` resources as they were added.
        var units: [AppUnit]
        /// Signalled when a unit's `run` returned.
        var finished: [String: AsyncStream<Void>] = [:]
        var stopping = false
    }

    private let state: Mutex<State>
    private let commands: (stream: AsyncStream<(AppUnit, AsyncStream<Void>.Continuation)>,
                           continuation: AsyncStream<(AppUnit, AsyncStream<Void>.Continuation)>.Continuation)
    private let logger: Logger

    init(units: [AppUnit], logger: Logger) {
        state = Mutex(State(units: units))
        commands = AsyncStream.makeStream()
        self.logger = logger
        for unit in units { enqueue(unit) }
    }

    /// Every app, the flag app first.
    var units: [AppUnit] { state.withLock { $0.units } }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for await (unit, done) in commands.stream {
                    group.addTask {
                        await unit.run()
                        done.finish()
                    }
                }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.commands.continuation.finish()
        }
    }

    /// Starts serving `unit`.
    func add(_ unit: AppUnit) {
        state.withLock { $0.units.append(unit) }
        enqueue(unit)
    }

    private func enqueue(_ unit: AppUnit) {
        let (finished, done) = AsyncStream<Void>.makeStream()
        state.withLock { $0.finished[unit.id] = finished }
        if case .terminated = commands.continuation.yield((unit, done)) { done.finish() }
    }

    /// Stops serving app `id`: it takes no more messages, in-flight deliveries settle, then its
    /// connections close. What it did not take stays in the broker for its group.
    func remove(_ id: String) async {
        let (unit, finished) = state.withLock { s -> (AppUnit?, AsyncStream<Void>?) in
            guard let index = s.units.firstIndex(where: { $0.id == id }) else { return (nil, nil) }
            return (s.units.remove(at: index), s.finished.removeValue(forKey: id))
        }
        guard let unit else { return }
        await unit.stop()
        if let finished { for await _ in finished {} }
        await unit.close()
    }
}
