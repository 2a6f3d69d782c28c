import Delivery
@testable import HTTPAPI
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The connection cap against a descriptor budget whose limit the test moves, on channels
/// without sockets.
@Suite struct ConnectionGuardTests {
    final class Limit: Sendable {
        let value: Atomic<Int>
        init(_ v: Int) { value = Atomic(v) }
        func set(_ v: Int) { value.store(v, ordering: .relaxed) }
    }

    func active() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aLoweredLimitShrinksTheCapAndSheddingClosesTheLongestIdle() throws {
        let limit = Limit(DescriptorBudget.reserve + 100)
        let budget = DescriptorBudget(limit: { limit.value.load(ordering: .relaxed) })
        let guard_ = ConnectionGuard(limit: 1000, headTimeout: .seconds(5), budget: budget)
        var channels: [EmbeddedChannel] = []
        var slots: [ConnectionGuard.Slot] = []
        for _ in 0..<60 {
            let c = try active()
            slots.append(try #require(guard_.admit(c)))
            channels.append(c)
        }
        #expect(guard_.cap == 100 && guard_.openConnections == 60 && budget.inboundCount == 60)
        slots[0].markIdle(false)  // a request in progress: never shed
        limit.set(DescriptorBudget.reserve + 40)
        #expect(guard_.cap == 40)
        #expect(guard_.shed(guard_.openConnections - guard_.cap) == 20)
        #expect(guard_.openConnections == 40 && budget.inboundCount == 40)
        #expect(channels[0].isActive, "busy connection kept")
        #expect(!channels[1].isActive && !channels[20].isActive && channels[21].isActive, "the oldest idle ones went first")
        // At the cap, a new connection takes the place of the longest-idle one.
        let late = try active()
        #expect(guard_.admit(late) != nil)
        #expect(guard_.openConnections == 40 && !channels[21].isActive)
    }

    @Test func outboundConnectionsShareTheBudget() {
        let budget = DescriptorBudget(limit: { DescriptorBudget.reserve + 20 })
        for _ in 0..<15 { budget.inboundOpened() }
        #expect(budget.inboundRoom == 20)
        for _ in 0..<5 { #expect(budget.openOutbound()) }
        #expect(!budget.openOutbound(), "inbound + outbound reached the budget")
        #expect(budget.openOutbound(force: true), "a pool's first connection is always allowed")
        #expect(budget.inboundRoom == 14)
        budget.outboundClosed()
        #expect(!budget.openOutbound(), "15 + 5: still full")
        budget.inboundClosed()
        #expect(budget.openOutbound(), "an inbound connection closed: room for one more")
        #expect(budget.inboundCount + budget.outboundCount == 20)
    }
}
