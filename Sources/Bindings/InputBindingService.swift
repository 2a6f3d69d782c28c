import BrokerKit
import Logging
import ServiceLifecycle
import Synchronization

/// Starts every input binding that should be read and drains them on shutdown: stop reading,
/// let in-flight messages finish (the service group's grace period cancels the rest, which stay
/// unacknowledged at their source).
public final class InputBindingService: Service, Sendable {
    let runners: [InputBindingRunner]
    let inputs: [String: any InputBinding]
    let logger: Logger
    private let state = Mutex<(streams: [DeliveryStream], stopping: Bool, reading: [String])>(([], false, []))

    public init(runners: [InputBindingRunner], inputs: [String: any InputBinding], logger: Logger) {
        self.runners = runners
        self.inputs = inputs
        self.logger = logger
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
        guard let input = inputs[runner.name] else { return }
        guard await runner.shouldRead(isCancelled: { Task.isCancelled || self.state.withLock { $0.stopping } }) else { return }
        let streams: [DeliveryStream]
        do {
            streams = try await input.read(window: max(runner.settings.maxConcurrency, 1))
        } catch {
            logger.error("input binding \(runner.name) could not start reading: \(error)")
            return
        }
        let stopNow = state.withLock { s -> Bool in
            s.streams += streams
            s.reading.append(runner.name)
            return s.stopping
        }
        if stopNow { for s in streams { await s.stop() } }
        logger.info("reading input binding", metadata: ["binding": "\(runner.name)", "route": "\(runner.settings.forwardTo.isEmpty ? runner.settings.route : "→ " + runner.settings.forwardTo.joined(separator: ","))"])
        await runner.run(streams)
    }

    func stopReading() async {
        let streams = state.withLock { s -> [DeliveryStream] in
            s.stopping = true
            return s.streams
        }
        for s in streams { await s.stop() }
    }

    /// Backlog of each input binding whose source can tell.
    public func backlogs() async -> [String: Backlog] {
        var out: [String: Backlog] = [:]
        for (name, input) in inputs { if let b = await input.backlog() { out[name] = b } }
        return out
    }
}
