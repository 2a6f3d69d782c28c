import BrokerKit
import Logging
import ServiceLifecycle
import Synchronization

/// Reads input bindings, each through its runner, and drains them on shutdown: stop reading, let
/// in-flight messages finish (the service group's grace period cancels the rest, which stay
/// unacknowledged at their source). Readers a runner opened for itself close after it drained.
/// Runners can be added and removed while it runs (a reload changing a binding component).
public final class InputBindingService: Service, Sendable {
    let logger: Logger

    /// One runner's progress.
    private struct Running {
        var runner: InputBindingRunner
        var streams: [DeliveryStream] = []
        var input: (any InputBinding)?
        /// Signalled once its `start` returned (it drained, and closed what it opened).
        var finished: AsyncStream<Void>
    }

    private struct State {
        var running: [String: Running] = [:]
        var stopping = false
    }

    private let state = Mutex(State())
    private let commands: (stream: AsyncStream<(InputBindingRunner, AsyncStream<Void>.Continuation)>,
                           continuation: AsyncStream<(InputBindingRunner, AsyncStream<Void>.Continuation)>.Continuation)

    public init(runners: [InputBindingRunner], logger: Logger) {
        self.logger = logger
        commands = AsyncStream.makeStream()
        for runner in runners { add(runner) }
    }

    /// Names of the input bindings being read (for the metadata API and tests).
    public var reading: [String] {
        state.withLock { s in s.running.values.filter { $0.input != nil }.map(\.runner.name).sorted() }
    }

    /// Every runner it has, reading or about to.
    public var runners: [InputBindingRunner] { state.withLock { $0.running.values.map(\.runner) } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for await (runner, done) in self.commands.stream {
                    group.addTask {
                        await self.start(runner)
                        done.finish()
                    }
                }
            }
        } onGracefulShutdown: {
            Task { await self.stopReading() }
        }
    }

    /// Starts reading through `runner` (at once when running, else when `run` begins). A runner
    /// of the same name is replaced without being drained: remove it first.
    public func add(_ runner: InputBindingRunner) {
        let (finished, done) = AsyncStream<Void>.makeStream()
        let accepted = state.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.running[runner.name] = Running(runner: runner, finished: finished)
            return true
        }
        guard accepted, case .enqueued = commands.continuation.yield((runner, done)) else {
            done.finish()
            return
        }
    }

    /// Stops reading binding `name` and returns once its in-flight messages settled and what its
    /// runner opened closed. What it did not take stays at the source.
    public func remove(_ name: String) async {
        guard let running = state.withLock({ $0.running.removeValue(forKey: name) }) else { return }
        running.runner.halt()
        for stream in running.streams { await stream.stop() }
        for await _ in running.finished {}
    }

    /// Whether `runner` is still wanted: neither removed nor shutting down.
    private func isWanted(_ runner: InputBindingRunner) -> Bool {
        state.withLock { s in !s.stopping && s.running[runner.name]?.runner === runner }
    }

    func start(_ runner: InputBindingRunner) async {
        guard await runner.shouldRead(isCancelled: { Task.isCancelled || !self.isWanted(runner) }) else { return }
        let input: any InputBinding
        var opened: BindingComponent?
        switch runner.source {
        case .loaded(let loaded):
            input = loaded
        case .opened(let open):
            do {
                let component = try await open()
                guard let reader = component.input else {
                    await component.close()
                    return
                }
                opened = component
                input = reader
            } catch {
                logger.error("input binding \(runner.name) could not start reading: \(error)")
                return
            }
        }
        let streams: [DeliveryStream]
        do {
            streams = try await input.read(window: max(runner.settings.maxConcurrency, 1))
        } catch {
            logger.error("input binding \(runner.name) could not start reading: \(error)")
            await opened?.close()
            return
        }
        let wanted = state.withLock { s -> Bool in
            guard !s.stopping, s.running[runner.name]?.runner === runner else { return false }
            s.running[runner.name]?.streams = streams
            s.running[runner.name]?.input = input
            return true
        }
        if !wanted { for s in streams { await s.stop() } }
        logger.info("reading input binding", metadata: ["binding": "\(runner.name)", "route": "\(runner.settings.forwardTo.isEmpty ? runner.settings.route : "→ " + runner.settings.forwardTo.joined(separator: ","))"])
        await runner.run(streams)
        await opened?.close()
    }

    /// Stops reading every binding; `run` returns once in-flight messages settled. Messages waiting
    /// for an unhealthy app go back to their source.
    public func stopReading() async {
        let running = state.withLock { s -> [Running] in
            s.stopping = true
            return Array(s.running.values)
        }
        commands.continuation.finish()
        for r in running {
            r.runner.availability?.abandon()
            r.runner.halt()
        }
        for r in running { for s in r.streams { await s.stop() } }
    }

    /// Backlog of each input binding whose source can tell.
    public func backlogs() async -> [String: Backlog] {
        var out: [String: Backlog] = [:]
        let inputs = state.withLock { s in s.running.values.compactMap { r in r.input.map { (r.runner.name, $0) } } }
        for (name, input) in inputs { if let b = await input.backlog() { out[name] = b } }
        return out
    }
}
