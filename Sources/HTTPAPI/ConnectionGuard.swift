import Delivery
import Logging
import NIOCore
import Synchronization

/// Bounds the connections of the HTTP API and how long a request head may take to arrive.
///
/// - At most `limit` connections are open, and never more than the process's `DescriptorBudget`
///   leaves beside the outbound connections. When a new one would exceed that, the connection that has
///   been idle (between requests) the longest is closed to make room, so a flood of idle keep-alive
///   sockets cannot lock out health probes; with no idle one to close, the new connection gets `503`
///   and is closed at once (it never waits in the kernel's accept queue while the process runs out
///   of file descriptors).
/// - Once the first byte of a request arrives, its head (request line and headers) must be complete
///   within `headTimeout`, or the connection gets `408` and is closed (slowloris). Time between
///   requests is governed by the idle timeout instead.
public final class ConnectionGuard: Sendable {
    public let limit: Int
    public let headTimeout: TimeAmount
    let budget: DescriptorBudget

    /// One admitted connection. Its idle mark is an atomic the connection's own event loop
    /// writes on every request and response, so that path takes no shared lock; only admission,
    /// eviction and release do.
    final class Slot: Sendable {
        let channel: any Channel
        /// When the connection last became idle (uptime nanoseconds), or 0 while a request is in progress.
        let idleSince = Atomic<UInt64>(0)
        init(_ channel: any Channel) { self.channel = channel }

        func markIdle(_ idle: Bool) { idleSince.store(idle ? max(NIODeadline.now().uptimeNanoseconds, 1) : 0, ordering: .relaxed) }
    }

    private struct State {
        var slots: [ObjectIdentifier: Slot] = [:]
    }
    private let state = Mutex(State())

    public init(limit: Int, headTimeout: TimeAmount, budget: DescriptorBudget = .process) {
        self.limit = max(limit, 1)
        self.headTimeout = headTimeout
        self.budget = budget
    }

    /// How many connections may be open now.
    var cap: Int { min(limit, budget.inboundRoom) }

    /// The number of open connections (for tests and metrics).
    public var openConnections: Int { state.withLock { $0.slots.count } }

    /// Admits `channel` (idle until its first byte), closing the longest-idle connection when at
    /// the limit; `nil` when none is idle.
    func admit(_ channel: any Channel) -> Slot? {
        let slot = Slot(channel)
        slot.markIdle(true)
        let cap = self.cap
        let (admitted, evict) = state.withLock { s -> (Bool, [any Channel]) in
            var evicted: [any Channel] = []
            if s.slots.count >= cap {
                evicted = Self.removeLongestIdle(1, from: &s.slots)
                guard !evicted.isEmpty else { return (false, []) }
            }
            s.slots[ObjectIdentifier(channel)] = slot
            return (true, evicted)
        }
        for channel in evict { channel.close(promise: nil) }
        // One in, as many out: the budget's inbound count follows the slots.
        if admitted { budget.inboundOpened() }
        for _ in evict { budget.inboundClosed() }
        return admitted ? slot : nil
    }

    /// Closes up to `count` of the longest-idle connections (never one with a request in
    /// progress), to free descriptors; returns how many it closed.
    func shed(_ count: Int) -> Int {
        let evicted = state.withLock { Self.removeLongestIdle(count, from: &$0.slots) }
        for channel in evicted {
            channel.close(promise: nil)
            budget.inboundClosed()
        }
        return evicted.count
    }

    /// Removes the `count` slots idle the longest (fewer if fewer are idle).
    private static func removeLongestIdle(_ count: Int, from slots: inout [ObjectIdentifier: Slot]) -> [any Channel] {
        guard count > 0 else { return [] }
        var idle: [(key: ObjectIdentifier, since: UInt64)] = []
        for (key, slot) in slots {
            let since = slot.idleSince.load(ordering: .relaxed)
            if since != 0 { idle.append((key, since)) }
        }
        let victims = count == 1 ? idle.min { $0.since < $1.since }.map { [$0] } ?? [] : Array(idle.sorted { $0.since < $1.since }.prefix(count))
        return victims.compactMap { slots.removeValue(forKey: $0.key)?.channel }
    }

    /// Forgets a closed connection (a no-op for one already evicted: its place went to another).
    func release(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        if state.withLock({ $0.slots.removeValue(forKey: id) }) != nil { budget.inboundClosed() }
    }

    /// Puts an `AcceptPacer` in front of the API's listening channel (from Hummingbird's
    /// `onServerRunning`), so running out of descriptors frees some instead of spinning on accept.
    public func pace(accepting channel: any Channel, logger: Logger) async {
        do {
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(AcceptPacer(connectionGuard: self, logger: logger), position: .first)
            }.get()
        } catch {
            logger.error("could not guard the API's accept loop: \(error)")
        }
    }

    /// The handler for one connection; it goes first in the pipeline, before the HTTP decoder.
    public func makeHandler() -> ConnectionGuardHandler { ConnectionGuardHandler(guard: self) }
}

/// Per-connection part of `ConnectionGuard`, on raw bytes: admission, idle bookkeeping and the
/// request-head timer (a head is complete at the first CRLF CRLF after its first byte).
public final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = IOData
    public typealias OutboundOut = IOData

    private enum Phase {
        /// Waiting for the first byte of the next request.
        case idle
        /// Reading a head; `matched` counts the bytes of "\r\n\r\n" seen so far.
        case head(matched: Int)
        /// Head complete; the request is being read or answered.
        case request
    }

    private let connectionGuard: ConnectionGuard
    private var phase = Phase.idle
    private var timer: Scheduled<Void>?
    private var slot: ConnectionGuard.Slot?

    init(guard connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    public func channelActive(context: ChannelHandlerContext) {
        guard let slot = connectionGuard.admit(context.channel) else {
            reject(context, status: "503 Service Unavailable", code: "ERR_TOO_MANY_CONNECTIONS", reason: "too many connections")
            return
        }
        self.slot = slot
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if slot != nil { connectionGuard.release(context.channel) }
        slot = nil
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let slot else { return }
        let bytes = unwrapInboundIn(data)
        var matched: Int
        switch phase {
        case .request:
            context.fireChannelRead(data)
            return
        case .idle:
            matched = 0
            slot.markIdle(false)
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: connectionGuard.headTimeout) { [weak self] in
                guard let self, case .head = self.phase else { return }
                self.timedOut(context)
            }
        case .head(let m):
            matched = m
        }
        let crlfcrlf: [UInt8] = [13, 10, 13, 10]
        var complete = false
        for byte in bytes.readableBytesView {
            if byte == crlfcrlf[matched] {
                matched += 1
                if matched == 4 { complete = true; break }
            } else {
                matched = byte == 13 ? 1 : 0
            }
        }
        if complete {
            timer?.cancel()
            timer = nil
            phase = .request
        } else {
            phase = .head(matched: matched)
        }
        context.fireChannelRead(data)
    }

    /// A response went out: the next bytes start a new request.
    public func flush(context: ChannelHandlerContext) {
        if case .request = phase {
            phase = .idle
            slot?.markIdle(true)
        }
        context.flush()
    }

    /// Written from this handler (toward the socket), past the HTTP encoder.
    private func timedOut(_ context: ChannelHandlerContext) {
        phase = .request
        reject(context, status: "408 Request Timeout", code: "ERR_REQUEST_HEAD_TIMEOUT", reason: "the request head did not arrive in time")
    }

    private func reject(_ context: ChannelHandlerContext, status: String, code: String, reason: String) {
        let body = #"{"errorCode":"\#(code)","message":"\#(reason)"}"#
        let text = "HTTP/1.1 \(status)\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(channel.allocator.buffer(string: text)))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
