import NIOCore
import Synchronization

/// Bounds the connections of the HTTP API and how long a request head may take to arrive.
///
/// - At most `limit` connections are open. When a new one would exceed it, the connection that has
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

    private struct State {
        var open = 0
        /// Idle connections by id, with when they became idle.
        var idle: [ObjectIdentifier: (channel: any Channel, since: NIODeadline)] = [:]
        /// Closed to make room; their slots already went to new connections.
        var evicted: Set<ObjectIdentifier> = []
    }
    private let state = Mutex(State())

    public init(limit: Int, headTimeout: TimeAmount) {
        self.limit = max(limit, 1)
        self.headTimeout = headTimeout
    }

    /// The number of open connections (for tests and metrics).
    public var openConnections: Int { state.withLock { $0.open } }

    /// Admits a new connection, closing the longest-idle one when at the limit.
    func admit() -> Bool {
        let limit = self.limit
        let (admitted, evict) = state.withLock { s -> (Bool, (any Channel)?) in
            if s.open < limit {
                s.open += 1
                return (true, nil)
            }
            guard let oldest = s.idle.min(by: { $0.value.since < $1.value.since }) else { return (false, nil) }
            s.idle[oldest.key] = nil
            s.evicted.insert(oldest.key)
            return (true, oldest.value.channel)
        }
        evict?.close(promise: nil)
        return admitted
    }

    func setIdle(_ channel: any Channel, _ idle: Bool) {
        let id = ObjectIdentifier(channel)
        state.withLock { s in
            if idle { s.idle[id] = (channel, .now()) } else { s.idle[id] = nil }
        }
    }

    func release(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { s in
            s.idle[id] = nil
            if s.evicted.remove(id) == nil { s.open -= 1 }
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
    private var admitted = false

    init(guard connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    public func channelActive(context: ChannelHandlerContext) {
        guard connectionGuard.admit() else {
            reject(context, status: "503 Service Unavailable", code: "ERR_TOO_MANY_CONNECTIONS", reason: "too many connections")
            return
        }
        admitted = true
        connectionGuard.setIdle(context.channel, true)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if admitted { connectionGuard.release(context.channel) }
        admitted = false
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }
        let bytes = unwrapInboundIn(data)
        var matched: Int
        switch phase {
        case .request:
            context.fireChannelRead(data)
            return
        case .idle:
            matched = 0
            connectionGuard.setIdle(context.channel, false)
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
            connectionGuard.setIdle(context.channel, true)
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
