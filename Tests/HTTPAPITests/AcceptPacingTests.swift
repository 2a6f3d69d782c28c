@testable import HTTPAPI
import NIOCore
import Testing

/// The pause after `accept` ran out of descriptors: short when idle connections were closed to
/// make room, growing to a second when nothing could be freed, reset by the next accept.
@Suite struct AcceptPacingTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func nothingFreedPausesLongerEachTimeUpToASecond() {
        var pacing = AcceptPacing()
        let pauses = (0..<10).map { _ in pacing.failed(closed: 0, now: t0).pause.nanoseconds / 1_000_000 }
        #expect(pauses == [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000])
    }

    @Test func freeingDescriptorsOnlyWaitsForTheClosesToLand() {
        var pacing = AcceptPacing()
        #expect(pacing.failed(closed: 0, now: t0).pause == .milliseconds(10))
        #expect(pacing.failed(closed: 0, now: t0).pause == .milliseconds(20))
        #expect(pacing.failed(closed: 16, now: t0).pause == AcceptPacing.settle)
        #expect(pacing.failed(closed: 0, now: t0).pause == .milliseconds(40), "still growing: nothing was accepted in between")
    }

    @Test func anEpisodeIsCountedOnceAndEndsAtTheNextAccept() throws {
        var pacing = AcceptPacing()
        #expect(pacing.accepted() == nil, "no episode without a failure")
        #expect(pacing.failed(closed: 3, now: t0).began)
        #expect(!pacing.failed(closed: 0, now: t0 + .milliseconds(5)).began)
        #expect(!pacing.failed(closed: 16, now: t0 + .milliseconds(20)).began)
        let ended = pacing.accepted()
        let episode = try #require(ended)
        #expect(episode.failures == 3 && episode.closed == 19 && episode.started == t0)
        #expect(episode.longestPause == .milliseconds(10))
        #expect(pacing.accepted() == nil)
        #expect(pacing.failed(closed: 0, now: t0).pause == .milliseconds(10), "the pause starts over")
    }
}
