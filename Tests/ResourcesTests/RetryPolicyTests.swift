import Resources
import Testing

@Suite struct RetryPolicyTests {
    @Test func constantRespectsMaxRetries() {
        let p = RetryPolicy(kind: .constant, duration: 2, maxRetries: 2)
        #expect(p.delay(beforeRetry: 1, elapsed: 0, random: 0.5) == 2)
        #expect(p.delay(beforeRetry: 2, elapsed: 0, random: 0.5) == 2)
        #expect(p.delay(beforeRetry: 3, elapsed: 0, random: 0.5) == nil)
        #expect(RetryPolicy(maxRetries: 0).delay(beforeRetry: 1, elapsed: 0, random: 0) == nil)
        #expect(RetryPolicy(maxRetries: -1).delay(beforeRetry: 1000, elapsed: 1e6, random: 0) == 5, "constant unlimited never stops")
    }

    @Test func exponentialGrowsWithJitterCapAndElapsedLimit() {
        let p = RetryPolicy(kind: .exponential, maxInterval: 3, maxRetries: -1)
        #expect(p.delay(beforeRetry: 1, elapsed: 0, random: 0.5) == 0.5)
        #expect(p.delay(beforeRetry: 2, elapsed: 0, random: 0.5) == 0.75)
        #expect(p.delay(beforeRetry: 1, elapsed: 0, random: 0) == 0.25)
        #expect(p.delay(beforeRetry: 20, elapsed: 0, random: 0.99)! <= 3)
        #expect(p.delay(beforeRetry: 2, elapsed: 901, random: 0.5) == nil, "15 minute cap")
    }

    @Test func statusCodeSets() {
        let s = StatusCodeSet("429, 500-599")
        #expect(s?.contains(429) == true && s?.contains(503) == true && s?.contains(404) == false)
        #expect(StatusCodeSet("5-1") == nil)
        #expect(StatusCodeSet("abc") == nil)
    }

    @Test func tripConditions() {
        #expect(TripCondition("consecutiveFailures > 5")?.holds([.consecutiveFailures: 6]) == true)
        #expect(TripCondition("consecutiveFailures > 5")?.holds([.consecutiveFailures: 5]) == false)
        #expect(TripCondition("totalFailures >= 2 || requests == 9")?.holds([.requests: 9]) == true)
        #expect(TripCondition("size(x) > 1") == nil)
    }
}
