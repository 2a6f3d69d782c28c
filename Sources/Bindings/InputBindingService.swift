import BrokerKit
import Logging
import ServiceLifecycle
import Synchronization

/// Starts every input binding that should be read and drains them on shutdown: stop reading,
/// let in-flight messages finish (the service group's grace period cancels the rest, which stay
/// unacknowledged at their source). Readers a runner opened for itself close after it drained.
public final class InputBindingService: Service, Sendable {
    let runners: [InputBindingRunner]
    let logger: Logger
    private struct State {
        var streams: [DeliveryStream] = []
        var stopping = false
        var reading: [String] = []
        var inputs: [String: any InputBinding]
    }
    private let state: Mutex<State>

    public init(runners: [InputBindingRunner], logger: Logger) {
        self.runners = runners
        self.logger = logger
        var loaded: [String: any InputBinding] = [:]
        for runner in runners { if case .loaded(let input) = runner.source { loaded[runner.name] = input } }
        state = Mutex(State(inputs: loaded))
    }

    /// Names of the input bindings being read (for the metadata API and tests).
    public var reading: [String] { state.withLock { $0.reading.sorted() } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for runner in self.runners { group.addTask { await self.start(runner) } }
            }
        } onGracefulShutdown: {
            Task { await self.stopReading() }
        }
    }

    func start(_ runner: InputBindingRunner) async {
        guard await runner.shouldRead(isCancelled: { Task.isCancelled || self.state.withLock { $0.stopping } }) else { return }
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
        let stopNow = state.withLock { s -> Bool in
            s.streams += streams
            s.reading.append(runner.name)
            s.inputs[runner.name] = input
            return s.stopping
        }
        if stopNow { for s in streams { await s.stop() } }
        logger.info("reading input binding", metadata: ["binding": "\(runner.name)", "route": "\(runner.settings.forwardTo.isEmpty ? runner.settings.route : "→ " + runner.settings.forwardTo.joined(separator: ","))"])
        await runner.run(streams)
        await opened?.close()
    }

    /// Stops reading every binding; `run` returns once in-flight messages settled. Messages waiting
    /// for an unhealthy app go back to their source.
    public func stopReading() async {
        let streams = state.withLock { s -> [DeliveryStream] in
            s.stopping = true
            return s.streams
        }
        for runner in runners { runner.availability?.abandon() }
        for s in streams { await s.stop() }
    }

    /// Backlog of each input binding whose source can tell.
    public func backlogs() async -> [String: Backlog] {
        var out: [String: Backlog] = [:]
        for (name, input) in state.withLock({ $0.inputs }) { if let b = await input.backlog() { out[name] = b } }
        return out
    }
}
