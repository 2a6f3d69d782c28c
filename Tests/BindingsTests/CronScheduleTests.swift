@testable import Bindings
import BrokerKit
import Foundation
import Resources
import Synchronization
import Testing

@Suite struct CronScheduleTests {
    func date(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        return f.date(from: text)!
    }

    func iso(_ d: Date?) -> String? { d.map { ISO8601DateFormatter().string(from: $0) } }

    @Test func sixFieldsStartWithSeconds() throws {
        let s = try CronSchedule("*/15 * * * * *")
        #expect(iso(s.next(after: date("2026-01-01T10:00:00Z"))) == "2026-01-01T10:00:15Z")
        #expect(iso(s.next(after: date("2026-01-01T10:00:50Z"))) == "2026-01-01T10:01:00Z")
        let t = try CronSchedule("30 5 9 * * MON-FRI")
        // 2026-01-03 is a Saturday: the next weekday is Monday the 5th.
        #expect(iso(t.next(after: date("2026-01-02T09:05:30Z"))) == "2026-01-05T09:05:30Z")
        let u = try CronSchedule("0 0 12 1,15 JAN,jul ?")
        #expect(iso(u.next(after: date("2026-01-15T12:00:00Z"))) == "2026-07-01T12:00:00Z")
    }

    @Test func descriptorsAndEvery() throws {
        #expect(iso(try CronSchedule("@hourly").next(after: date("2026-03-01T10:20:00Z"))) == "2026-03-01T11:00:00Z")
        #expect(iso(try CronSchedule("@daily").next(after: date("2026-12-31T10:20:00Z"))) == "2027-01-01T00:00:00Z")
        #expect(iso(try CronSchedule("@yearly").next(after: date("2026-03-01T00:00:00Z"))) == "2027-01-01T00:00:00Z")
        #expect(iso(try CronSchedule("@weekly").next(after: date("2026-01-01T00:00:00Z"))) == "2026-01-04T00:00:00Z")
        #expect(iso(try CronSchedule("@every 1m30s").next(after: date("2026-01-01T00:00:00Z"))) == "2026-01-01T00:01:30Z")
    }

    @Test func timeZonePrefix() throws {
        let s = try CronSchedule("CRON_TZ=America/New_York 0 0 9 * * *")
        #expect(s.timeZone.identifier == "America/New_York")
        // 09:00 in New York in January is 14:00 UTC.
        #expect(iso(s.next(after: date("2026-01-10T00:00:00Z"))) == "2026-01-10T14:00:00Z")
    }

    @Test(arguments: ["* * * * *", "61 * * * * *", "* * * * 13 *", "5-1 * * * * *", "*/0 * * * * *", "@fortnightly",
                      "@every 0s", "CRON_TZ=Mars/Olympus 0 0 0 * * *", "a * * * * *", "1,,2 * * * * *"])
    func badSchedulesAreRefused(_ text: String) {
        #expect(throws: CronSchedule.Invalid.self) { try CronSchedule(text) }
    }

    /// A clock the test moves by hand: `sleep(until:)` returns once `advance` passed the deadline.
    final class ManualClock: CronClock {
        let state = Mutex<(now: Date, waiters: [(Date, CheckedContinuation<Void, Never>)])>((Date(timeIntervalSince1970: 1_767_225_600), []))
        func now() -> Date { state.withLock { $0.now } }
        func sleep(until deadline: Date) async throws {
            await withCheckedContinuation { c in
                let ready = state.withLock { s -> Bool in
                    if s.now >= deadline { return true }
                    s.waiters.append((deadline, c))
                    return false
                }
                if ready { c.resume() }
            }
            try Task.checkCancellation()
        }
        func advance(_ seconds: Double) {
            let due = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.now += seconds
                let now = s.now
                let due = s.waiters.filter { $0.0 <= now }.map(\.1)
                s.waiters.removeAll { $0.0 <= now }
                return due
            }
            due.forEach { $0.resume() }
        }
        var waiting: Int { state.withLock { $0.waiters.count } }
    }

    @Test func cronBindingFiresOnTheInjectedClock() async throws {
        let clock = ManualClock()
        let component = Component(name: "tick", type: "bindings.cron", metadata: ComponentMetadata(["schedule": "@every 10s"]))
        let binding = try CronBinding(component: component, clock: clock)
        let stream = try await binding.read(window: 1)[0]
        let first = Task { try await stream.source.next() }
        while clock.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        clock.advance(9)
        try await Task.sleep(for: .milliseconds(50))
        #expect(clock.waiting == 1, "not yet due after 9 s")
        clock.advance(1)
        let delivery = try #require(try await first.value)
        #expect(delivery.payload.isEmpty)
        #expect(delivery.metadata["timeZone"] == "UTC")
        #expect(delivery.metadata["readTimeUTC"] == "2026-01-01T00:00:10Z")
        try await delivery.ack()
        // The next firing is 10 s after the last one.
        let second = Task { try await stream.source.next() }
        while clock.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        clock.advance(10)
        #expect(try await second.value?.metadata["readTimeUTC"] == "2026-01-01T00:00:20Z")
        // Stopping ends a pending wait with nil.
        let third = Task { try await stream.source.next() }
        while clock.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await stream.stop()
        clock.advance(100)
        #expect(try await third.value == nil)
    }
}
