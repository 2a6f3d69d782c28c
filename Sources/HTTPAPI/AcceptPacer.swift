#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore

/// On the listening channel of the HTTP API, in front of everything else: when `accept` fails for
/// want of file descriptors (EMFILE/ENFILE), it frees some the way the connection cap does (the
/// longest-idle keep-alive connections are closed, down to what the descriptor budget allows now),
/// and holds the next accept back as `AcceptPacing` says instead of letting the server retry at
/// once and spin. One log line when an episode begins and one when it ends, with the counts.
final class AcceptPacer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias OutboundIn = any Channel

    /// Connections closed per failure beyond what the budget requires, so one failure makes room
    /// for a burst of new connections rather than exactly one.
    static let headroom = 16

    private let connectionGuard: ConnectionGuard
    private let logger: Logger
    private var pacing = AcceptPacing()
    private var resumeAt: NIODeadline?
    private var scheduledRead: Scheduled<Void>?

    init(connectionGuard: ConnectionGuard, logger: Logger) {
        self.connectionGuard = connectionGuard
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let io = error as? IOError, io.errnoCode == EMFILE || io.errnoCode == ENFILE else {
            context.fireErrorCaught(error)
            return
        }
        let open = connectionGuard.openConnections, cap = connectionGuard.cap
        let closed = connectionGuard.shed(max(open - cap, 0) + Self.headroom)
        let now = NIODeadline.now()
        let (pause, began) = pacing.failed(closed: closed, now: now)
        resumeAt = now + pause
        if began {
            logger.warning("out of file descriptors: accept failed, closing idle connections and pausing accepts",
                           metadata: ["errno": "\(io.errnoCode)", "open": "\(open)", "cap": "\(cap)", "closed": "\(closed)",
                                      "outbound": "\(connectionGuard.budget.outboundCount)", "pauseMs": "\(pause.nanoseconds / 1_000_000)"])
        }
        // Not passed on: NIO's own back-off would pause a whole second even when room was made.
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let episode = pacing.accepted() {
            let ms = (NIODeadline.now() - episode.started).nanoseconds / 1_000_000
            logger.notice("accepting connections again after running out of file descriptors",
                          metadata: ["failures": "\(episode.failures)", "closed": "\(episode.closed)", "durationMs": "\(ms)",
                                     "longestPauseMs": "\(episode.longestPause.nanoseconds / 1_000_000)"])
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard scheduledRead == nil else { return }
        guard let deadline = resumeAt, deadline > .now() else {
            resumeAt = nil
            context.read()
            return
        }
        scheduledRead = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            scheduledRead = nil
            resumeAt = nil
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduledRead?.cancel()
        scheduledRead = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let scheduled = scheduledRead {
            scheduled.cancel()
            scheduledRead = nil
            context.read()
        }
    }
}
