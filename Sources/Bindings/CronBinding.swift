import BrokerKit
import CloudEvents
import Foundation
import Resources
import Synchronization

/// What the cron binding reads time from; tests drive it by hand.
public protocol CronClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (or throws when the task is cancelled).
    func sleep(until deadline: Date) async throws
}

/// The wall clock.
public struct SystemCronClock: CronClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
}

/// `bindings.cron`: an input binding that fires on `schedule` with an empty body and the metadata
/// `timeZone` and `readTimeUTC`. The app's answer is ignored; a firing missed while the previous
/// one was still being delivered is skipped, never queued up.
public final class CronBinding: InputBinding {
    public let schedule: CronSchedule
    let clock: any CronClock

    public init(component: Component, clock: any CronClock = SystemCronClock()) throws(BrokerError) {
        guard let text = component.metadata["schedule"], !text.isEmpty else { throw OptionReader(component).fail("schedule is required") }
        do {
            schedule = try CronSchedule(text)
        } catch {
            throw OptionReader(component).fail("schedule: \(error)")
        }
        self.clock = clock
    }

    public static func validate(_ component: Component) throws(BrokerError) { _ = try CronBinding(component: component) }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        [DeliveryStream(source: Ticks(schedule: schedule, clock: clock))]
    }

    /// One delivery per firing.
    final class Ticks: DeliverySource, DeliverySettler {
        let schedule: CronSchedule
        let clock: any CronClock
        private let state: Mutex<(last: Date?, stopped: Bool, sleeper: Task<Void, any Error>?)>
        private let count = Atomic<UInt64>(0)

        init(schedule: CronSchedule, clock: any CronClock) {
            self.schedule = schedule
            self.clock = clock
            state = Mutex((nil, false, nil))
        }

        func next() async throws(BrokerError) -> Delivery? {
            let now = clock.now()
            let from = state.withLock { s in max(s.last ?? now, now) }
            guard let due = schedule.next(after: from) else { return nil }
            let clock = clock
            let sleeper = Task { try await clock.sleep(until: due) }
            let proceed = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.sleeper = sleeper
                return true
            }
            guard proceed, (try? await sleeper.value) != nil, !state.withLock({ $0.stopped }) else {
                sleeper.cancel()
                return nil
            }
            state.withLock { $0.last = due }
            let metadata = ["timeZone": schedule.zoneName, "readTimeUTC": RFC3339.format(clampedUnixSeconds: due.timeIntervalSince1970)]
            let token = count.wrappingAdd(1, ordering: .relaxed).newValue
            return Delivery(topic: "cron", payload: [], metadata: metadata, token: token, attempt: 1, settler: self)
        }

        func stop() async {
            let sleeper = state.withLock { s -> Task<Void, any Error>? in
                s.stopped = true
                return s.sleeper
            }
            sleeper?.cancel()
        }

        func ack(_ delivery: Delivery) async throws(BrokerError) {}
        func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {}
        func abandoned(token: UInt64, topic: String) {}
    }
}
