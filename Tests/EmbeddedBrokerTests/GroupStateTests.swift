@testable import EmbeddedBroker
import Testing

@Suite struct GroupStateTests {
    func message(_ seq: Int64) -> StoredMessage { StoredMessage(seq: seq, topic: "t", payload: [UInt8(seq)], metadata: [:]) }

    @Test func handsOutInOrderAndTracksWatermark() {
        var g = GroupState(startAt: 1)
        g.load([message(1), message(2), message(3)], through: 3)
        #expect(g.cursor == 4)
        let a = g.take(now: 0, leaseSeconds: 10)!
        let b = g.take(now: 0, leaseSeconds: 10)!
        #expect(a.0.seq == 1 && b.0.seq == 2 && a.attempt == 1)
        #expect(g.watermark == 1)
        g.ack(2)
        #expect(g.watermark == 1, "an ack out of order must not move the watermark past an unacked message")
        g.ack(1)
        #expect(g.watermark == 3)
        _ = g.take(now: 0, leaseSeconds: 10)
        g.ack(3)
        #expect(g.watermark == 4)
        #expect(g.take(now: 0, leaseSeconds: 10) == nil)
    }

    /// A message deleted from the log (a redriven dead letter) is never handed out, wherever it
    /// was: not yet loaded, buffered, returned or in flight; and it holds no watermark back.
    @Test func aRemovedMessageIsForgottenWhereverItWas() {
        var g = GroupState(startAt: 1)
        g.load([message(1), message(2), message(3)], through: 3)
        let first = g.take(now: 0, leaseSeconds: 10)!  // 1 in flight
        #expect(first.0.seq == 1)
        g.forget(1)                                   // in flight
        g.forget(2)                                   // buffered
        g.forget(5)                                   // not loaded yet
        #expect(g.watermark == 3, "neither holds the watermark back")
        let settled = g.ack(1)
        #expect(!settled, "its delivery settles as nothing")
        g.load([message(4), message(5), message(6)], through: 6)
        var seen: [Int64] = []
        while let (m, _) = g.take(now: 0, leaseSeconds: 10) { seen.append(m.seq) }
        #expect(seen == [3, 4, 6])
        g.release(3, availableAt: 100)                // returned, waiting
        g.forget(3)
        #expect(g.take(now: 200, leaseSeconds: 10) == nil)
    }

    /// A persist that failed (a pass cut short by shutdown) hands its acks back, so the next pass
    /// writes them: otherwise every message acked in that window was redelivered after a SIGTERM.
    @Test func acksOfAFailedPersistAreWrittenByTheNextPass() {
        var g = GroupState(startAt: 1)
        g.load([message(1), message(2), message(3)], through: 3)
        for _ in 0..<3 { _ = g.take(now: 0, leaseSeconds: 10) }
        g.ack(3)
        g.ack(1)
        let drained = g.drainRecentAcks()
        let before = g.persistedWatermark
        g.persistedWatermark = g.watermark
        g.ack(2)  // arrives while the persist is in progress
        g.returnAcks(drained, persistedWatermark: before)
        #expect(g.persistedWatermark == 1)
        #expect(g.drainRecentAcks() == [3, 1, 2])
        #expect(g.watermark == 4)
    }

    @Test func releasedMessageComesBackAfterItsDelayWithNextAttempt() {
        var g = GroupState(startAt: 1)
        g.load([message(1), message(2)], through: 2)
        _ = g.take(now: 0, leaseSeconds: 10)
        let released = g.release(1, availableAt: 5)
        let releasedTwice = g.release(1, availableAt: 5)
        #expect(released)
        #expect(releasedTwice == false, "a second settle is ignored")
        let second = g.take(now: 1, leaseSeconds: 10)!
        #expect(second.0.seq == 2, "not due yet, so the log goes first")
        #expect(g.take(now: 1, leaseSeconds: 10) == nil)
        let again = g.take(now: 5, leaseSeconds: 10)!
        #expect(again.0.seq == 1 && again.attempt == 2)
        #expect(g.watermark == 1)
    }

    @Test func expiredLeasesAreReturned() {
        var g = GroupState(startAt: 1)
        g.load([message(1)], through: 1)
        _ = g.take(now: 0, leaseSeconds: 10)
        let early = g.expireLeases(now: 5)
        let late = g.expireLeases(now: 11)
        #expect(early == 0 && late == 1)
        let again = g.take(now: 11, leaseSeconds: 10)
        #expect(again?.attempt == 2)
        let acked = g.ack(1)
        #expect(acked)
        #expect(g.isIdle)
    }

    @Test func loadIgnoresMessagesBelowCursor() {
        var g = GroupState(startAt: 5)
        g.load([message(3), message(5)], through: 9)
        #expect(g.bufferedCount == 1)
        #expect(g.cursor == 10)
    }

    @Test func acknowledgedBeforeARestartAreSkipped() {
        var g = GroupState(startAt: 1, alreadyAcked: [2, 4])
        g.load([message(1), message(2), message(3), message(4)], through: 4)
        #expect(g.bufferedCount == 2)
        let first = g.take(now: 0, leaseSeconds: 10)?.0.seq
        let second = g.take(now: 0, leaseSeconds: 10)?.0.seq
        #expect(first == 1 && second == 3)
        g.ack(3)
        #expect(g.drainRecentAcks() == [3])
        #expect(g.drainRecentAcks().isEmpty)
    }
}
