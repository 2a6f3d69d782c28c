import Delivery
import Testing

/// Ordered delivery's bookkeeping: one item per key at a time, the rest in arrival order.
@Suite struct KeyedQueuesTests {
    @Test func aBusyKeyQueuesAndReleasesInOrder() {
        let q = KeyedQueues<Int>()
        #expect(q.offer(1, key: "a") == 1, "an idle key starts at once")
        #expect(q.offer(2, key: "b") == 2, "another key in parallel")
        #expect(q.offer(3, key: "a") == nil && q.offer(4, key: "a") == nil, "behind the busy key")
        #expect(q.counts.busyKeys == 2 && q.counts.queued == 2)
        #expect(q.next(after: "a") == 3 && q.next(after: "a") == 4, "in arrival order")
        #expect(q.next(after: "a") == nil, "then the key is idle")
        #expect(q.offer(5, key: "a") == 5, "and starts the next at once")
        #expect(q.next(after: "b") == nil && q.next(after: "a") == nil)
        #expect(q.counts.busyKeys == 0 && q.counts.queued == 0)
    }

    @Test func anEmptyKeyIsAKeyLikeAnyOther() {
        let q = KeyedQueues<Int>()
        #expect(q.offer(1, key: "") == 1 && q.offer(2, key: "") == nil)
        #expect(q.next(after: "") == 2 && q.next(after: "") == nil)
    }
}
