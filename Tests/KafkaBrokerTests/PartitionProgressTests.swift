@testable import KafkaBroker
import Testing

@Suite struct PartitionProgressTests {
    @Test func nothingReceivedHasNoPosition() {
        var p = PartitionProgress()
        #expect(p.position == nil)
        do { let r = p.takeCommit(); #expect(r == nil) }
    }

    @Test func commitNeverPassesAnUnacknowledgedOffset() {
        var p = PartitionProgress()
        for o in Int64(10)..<15 { let r = p.received(o); #expect(r) }
        do { let r = p.takeCommit(); #expect(r == 10) }
        p.acknowledge(12)
        p.acknowledge(13)
        #expect(p.position == 10, "10 and 11 are still in flight")
        do { let r = p.takeCommit(); #expect(r == nil, "the position did not move") }
        p.acknowledge(10)
        do { let r = p.takeCommit(); #expect(r == 11) }
        p.acknowledge(11)
        do { let r = p.takeCommit(); #expect(r == 14) }
        p.acknowledge(14)
        do { let r = p.takeCommit(); #expect(r == 15, "everything done: one past the highest") }
        #expect(p.outstanding == 0)
    }

    @Test func gapsInOffsetsAreFine() {
        // Compacted topics and transaction markers leave gaps.
        var p = PartitionProgress()
        for o: Int64 in [3, 7, 8, 20] { p.received(o) }
        p.acknowledge(3)
        p.acknowledge(8)
        #expect(p.position == 7)
        p.acknowledge(7)
        #expect(p.position == 20)
        do { let r = p.acknowledge(5); #expect(!r, "never received") }
        do { let r = p.acknowledge(8); #expect(!r, "already acknowledged") }
    }

    @Test func anOffsetAtOrBelowOneReceivedIsRefused() {
        var p = PartitionProgress()
        do { let r = p.received(5); #expect(r) }
        do { let r = p.received(5); #expect(!r) }
        do { let r = p.received(4); #expect(!r) }
        do { let r = p.received(6); #expect(r) }
    }

    @Test func aFailedCommitIsHandedOutAgain() {
        var p = PartitionProgress()
        p.received(0)
        p.acknowledge(0)
        do { let r = p.takeCommit(); #expect(r == 1) }
        do { let r = p.takeCommit(); #expect(r == nil) }
        p.commitFailed()
        do { let r = p.takeCommit(); #expect(r == 1) }
    }

    @Test func randomAcknowledgementOrderMatchesAModel() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var p = PartitionProgress()
            let n = Int64.random(in: 1...3000, using: &rng)
            for o in 0..<n { p.received(o) }
            var order = Array(0..<n)
            order.shuffle(using: &rng)
            var done = Set<Int64>()
            for (i, o) in order.enumerated() {
                p.acknowledge(o)
                done.insert(o)
                if i % 97 == 0 {
                    let expected = (0..<n).first { !done.contains($0) } ?? n
                    #expect(p.position == expected)
                }
            }
            #expect(p.position == n)
        }
    }
}
