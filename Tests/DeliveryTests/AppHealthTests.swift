import Delivery
import Testing

/// Dapr's health rule: `threshold` failed probes in a row make an app unhealthy, one success healthy.
@Suite struct AppHealthTests {
    @Test func failuresInARowMakeItUnhealthyAndOneSuccessHealthy() {
        var health = AppHealth(threshold: 3)
        #expect(health.record(success: false) == nil)
        #expect(health.record(success: false) == nil)
        #expect(health.record(success: true) == nil, "a success in between starts the count again")
        #expect(health.record(success: false) == nil && health.record(success: false) == nil)
        #expect(health.record(success: false) == .becameUnhealthy)
        #expect(!health.healthy)
        #expect(health.record(success: false) == nil, "reported once")
        #expect(health.record(success: true) == .becameHealthy)
        #expect(health.healthy && health.failures == 0)
        #expect(health.record(success: true) == nil)
    }

    @Test func aThresholdBelowOneMeansOne() {
        var health = AppHealth(threshold: 0)
        #expect(health.record(success: false) == .becameUnhealthy)
    }
}
