import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Keep-alive HTTP/1.1 connections to one host and port, used one request at a time each: the
/// delivery path toward the app. A request costs one hop onto the connection's event loop and one
/// back; there is no per-request task tree or state machine beyond `HTTP1ExchangeHandler`.
///
/// Idle connections are reused most recently used first; at `maxConnections`, or when the
/// process's `DescriptorBudget` has no descriptor left for a new one, a caller waits for one to
/// come back (a pool's first connection is always allowed). A request that finds its reused connection already closed by the app is sent
/// once more on a new connection (deliveries are at-least-once, so this never loses an event).
public final class HTTP1ConnectionPool: Sendable {
    public let host: String
    public let port: Int
    public let maxConnections: Int
    let group: any EventLoopGroup
    let idleTimeout: TimeAmount
    let connectTimeout: TimeAmount
    let budget: DescriptorBudget
    /// TLS toward an `https://` app: its certificate verified (chain, and the host name or IP).
    let tls: NIOSSLContext?
    private let state = Mutex(State())

    private struct State {
        var idle: [any Channel] = []
        var open = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Lease, any Error>)] = []
        var nextWaiterID = 0
        var isShutDown = false
        var all: [ObjectIdentifier: any Channel] = [:]

        /// The most recently used open idle connection, else a slot for a new one; nil at the
        /// limit or when the descriptor budget is spent.
        mutating func grant(maxConnections: Int, budget: DescriptorBudget) -> Lease? {
            while let channel = idle.popLast() {
                if channel.isActive { return .reuse(channel) }
            }
            guard open < maxConnections, budget.openOutbound(force: open == 0) else { return nil }
            open += 1
            return .connect
        }
    }

    private enum Lease {
        case reuse(any Channel)
        case connect
    }

    public init(host: String, port: Int, maxConnections: Int = 1024, idleTimeout: TimeAmount = .seconds(60),
                connectTimeout: TimeAmount = .seconds(10), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                budget: DescriptorBudget = .process, tls: NIOSSLContext? = nil) {
        self.tls = tls
        self.host = host
        self.port = port
        self.maxConnections = max(1, maxConnections)
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
        self.group = group
        self.budget = budget
    }

    /// Sends one request and collects the response (the body up to `maxResponseBytes`).
    func execute(head: HTTPRequestHead, body: ByteBuffer?, maxResponseBytes: Int, timeout: TimeAmount) async throws -> AppChannel.Response {
        var retried = false
        while true {
            let (channel, reused) = try await acquire()
            do {
                let result = try await Self.exchange(on: channel, head: head, body: body, maxResponseBytes: maxResponseBytes, timeout: timeout)
                release(channel, reusable: result.reusable)
                return result.response
            } catch let error where reused && !retried && !Task.isCancelled && Self.closedBeforeSending(error) {
                release(channel, reusable: false)
                retried = true
            } catch {
                release(channel, reusable: false)
                throw error
            }
        }
    }

    /// The reused connection was closed (by the app, or by its idle timer between the lease and
    /// the write) before the request got an answer: safe to send again on a new one.
    private static func closedBeforeSending(_ error: any Error) -> Bool {
        if let e = error as? HTTP1ExchangeError { return e == .closedBeforeResponse }
        if let e = error as? ChannelError { return e == .ioOnClosedChannel || e == .alreadyClosed }
        return false
    }

    /// Closes every connection; callers waiting for one get `shutDown`.
    public func shutdown() async {
        let (channels, waiters) = state.withLock { s in
            s.isShutDown = true
            let w = s.waiters
            s.waiters = []
            return (Array(s.all.values), w)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: HTTP1ExchangeError.shutDown) }
        for channel in channels { try? await channel.close() }
    }

    private static func exchange(on channel: any Channel, head: HTTPRequestHead, body: ByteBuffer?, maxResponseBytes: Int,
                                 timeout: TimeAmount) async throws -> HTTP1Result {
        let promise = channel.eventLoop.makePromise(of: HTTP1Result.self)
        let exchange = HTTP1Exchange(head: head, body: body, maxResponseBytes: maxResponseBytes, timeout: timeout, promise: promise)
        channel.writeAndFlush(exchange).whenFailure { promise.fail($0) }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    // MARK: Leasing

    private func acquire() async throws -> (any Channel, reused: Bool) {
        let lease: Lease? = try state.withLock { s in
            if s.isShutDown { throw HTTP1ExchangeError.shutDown }
            return s.grant(maxConnections: maxConnections, budget: budget)
        }
        let granted: Lease
        if let lease { granted = lease } else { granted = try await wait() }
        switch granted {
        case .reuse(let channel):
            return (channel, true)
        case .connect:
            do {
                return (try await connect(), false)
            } catch {
                connectionGone(nil)
                throw error
            }
        }
    }

    private func wait() async throws -> Lease {
        let id = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let outcome: Result<Lease, any Error>? = state.withLock { s in
                    if s.isShutDown { return .failure(HTTP1ExchangeError.shutDown) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    // A connection may have come back between the first look and now.
                    if let lease = s.grant(maxConnections: maxConnections, budget: budget) { return .success(lease) }
                    s.waiters.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Lease, any Error>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Hands a connection back: to the first waiter, or to the idle stack; closes it otherwise.
    private func release(_ channel: any Channel, reusable: Bool) {
        guard reusable, channel.isActive else {
            channel.close(promise: nil)  // `connectionGone` runs from its close future
            return
        }
        enum Next { case waiter(CheckedContinuation<Lease, any Error>), idle, close }
        let next = state.withLock { s -> Next in
            if s.isShutDown { return .close }
            if !s.waiters.isEmpty { return .waiter(s.waiters.removeFirst().continuation) }
            s.idle.append(channel)
            return .idle
        }
        switch next {
        case .waiter(let waiter): waiter.resume(returning: .reuse(channel))
        case .idle: break
        case .close: channel.close(promise: nil)
        }
    }

    /// A connection closed (or never opened): its slot (and descriptor) goes to the first waiter,
    /// or back to the budget.
    private func connectionGone(_ channel: (any Channel)?) {
        let waiter = state.withLock { s -> CheckedContinuation<Lease, any Error>? in
            if let channel {
                s.all[ObjectIdentifier(channel)] = nil
                s.idle.removeAll { $0 === channel }
            }
            guard !s.isShutDown, !s.waiters.isEmpty else {
                s.open -= 1
                budget.outboundClosed()
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        waiter?.resume(returning: .connect)
    }

    private func connect() async throws -> any Channel {
        let idleTimeout = self.idleTimeout, tls = self.tls
        // SNI and name verification use the host name; for an IP address the certificate's IP
        // entries are checked instead (an IP is not allowed in SNI).
        let serverName = host.isIPAddress ? nil : host
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTP1ExchangeHandler(idleTimeout: idleTimeout))
                }
            }
            .connect(host: host, port: port).get()
        let registered = state.withLock { s in
            guard !s.isShutDown else { return false }
            s.all[ObjectIdentifier(channel)] = channel
            return true
        }
        guard registered else {
            channel.close(promise: nil)
            throw HTTP1ExchangeError.shutDown  // the caller gives the slot back
        }
        channel.closeFuture.whenComplete { [weak self] _ in self?.connectionGone(channel) }
        return channel
    }
}

extension String {
    /// An IPv4 or IPv6 literal.
    var isIPAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}
