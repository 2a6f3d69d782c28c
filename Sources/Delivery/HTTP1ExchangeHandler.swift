import NIOCore
import NIOHTTP1

/// One request written on an `HTTP1Connection` and the promise its response completes.
struct HTTP1Exchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var maxResponseBytes: Int
    var timeout: TimeAmount
    var promise: EventLoopPromise<HTTP1Result>
}

/// What one exchange produced.
struct HTTP1Result: Sendable {
    var response: AppChannel.Response
    /// The connection may carry another request (keep-alive, complete response).
    var reusable: Bool
}

/// Why an exchange failed without a response.
public enum HTTP1ExchangeError: Error, Equatable, CustomStringConvertible {
    /// The connection closed before the response head arrived (a reused keep-alive connection the
    /// app had just closed, or an app that reset it).
    case closedBeforeResponse
    /// The connection closed in the middle of the response.
    case closedMidResponse
    /// No complete response within the delivery timeout.
    case timedOut
    /// The pool was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .closedBeforeResponse: "the app closed the connection before answering"
        case .closedMidResponse: "the app closed the connection in the middle of its answer"
        case .timedOut: "no answer within the delivery timeout"
        case .shutDown: "the app channel is shut down"
        }
    }
}

/// Writes one request at a time and collects its response on the event loop: the status, the
/// body up to a limit (the rest is read and dropped, so the connection stays usable), and
/// whether the connection can be reused. Closes the connection on a timeout, and when it sat
/// idle longer than `idleTimeout`.
final class HTTP1ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTP1Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private let idleTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var pending: HTTP1Exchange?
    /// One timer serves both deadlines below. It is moved earlier when a deadline needs it, never
    /// later: a timer that fires early looks again and re-arms for what is due then. So a busy
    /// connection schedules about one timer per timeout period, not two per request.
    private var timer: Scheduled<Void>?
    private var timerAt = NIODeadline.distantFuture
    /// When the request in flight times out.
    private var requestDeadline = NIODeadline.distantFuture
    /// When the connection, idle since its last answer, is closed.
    private var idleDeadline = NIODeadline.distantFuture
    private var status = 0
    private var keepAlive = true
    private var sawHead = false
    private var informational = false
    private var body = ByteBuffer()
    private var truncated = false

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    /// No idle timer before the first exchange: the pool opens a connection for a request it is
    /// about to write, and closes one it cannot use; idle time starts at each answer.
    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(.closedBeforeResponse)
        cancelTimer()
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil, context.channel.isActive else {
            exchange.promise.fail(HTTP1ExchangeError.closedBeforeResponse)
            promise?.fail(HTTP1ExchangeError.closedBeforeResponse)
            return
        }
        pending = exchange
        status = 0
        keepAlive = true
        sawHead = false
        informational = false
        truncated = false
        body.clear()
        requestDeadline = .now() + exchange.timeout
        armTimer(context)
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let payload = exchange.body, payload.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange = pending else { return }  // stray bytes after a response; the decoder ends the connection on junk
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx (other than 101) precede the real answer.
            informational = head.status.code >= 100 && head.status.code < 200 && head.status.code != 101
            guard !informational else { return }
            sawHead = true
            status = Int(head.status.code)
            keepAlive = head.isKeepAlive && head.status.code != 101
        case .body(var chunk):
            guard !informational else { return }
            let room = exchange.maxResponseBytes - body.readableBytes
            if chunk.readableBytes > room {
                if !truncated, room > 0, let slice = chunk.readSlice(length: room) { body.writeImmutableBuffer(slice) }
                truncated = true
            } else if !truncated {
                body.writeBuffer(&chunk)
            }
        case .end:
            if informational {
                informational = false
                return
            }
            complete(context, exchange)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(sawHead ? .closedMidResponse : .closedBeforeResponse)
        cancelTimer()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange = pending {
            pending = nil
            // A reset before any answer is the keep-alive race (the app closed the connection as the
            // request went out, and its kernel answered with RST): the pool may send it again.
            exchange.promise.fail(!sawHead && error is IOError ? HTTP1ExchangeError.closedBeforeResponse : error)
        }
        context.close(promise: nil)
    }

    private func complete(_ context: ChannelHandlerContext, _ exchange: HTTP1Exchange) {
        pending = nil
        let response = AppChannel.Response(status: status, body: body, truncated: truncated)
        body = ByteBuffer()
        if keepAlive {
            armIdleTimer(context)
        } else {
            context.close(promise: nil)
        }
        exchange.promise.succeed(HTTP1Result(response: response, reusable: keepAlive))
    }

    private func fail(_ error: HTTP1ExchangeError) {
        guard let exchange = pending else { return }
        pending = nil
        exchange.promise.fail(error)
    }

    private func armIdleTimer(_ context: ChannelHandlerContext) {
        idleDeadline = .now() + idleTimeout
        armTimer(context)
    }

    /// Makes sure the timer fires no later than what is due now (the request's deadline while one
    /// is in flight, else the idle deadline).
    private func armTimer(_ context: ChannelHandlerContext) {
        let due = pending == nil ? idleDeadline : requestDeadline
        if timer != nil, timerAt <= due { return }
        timer?.cancel()
        timerAt = due
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) { bound.value.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerAt = .distantFuture
        guard let context, context.channel.isActive else { return }
        let now = NIODeadline.now()
        if pending != nil {
            if now >= requestDeadline {
                fail(.timedOut)
                context.close(promise: nil)
                return
            }
        } else if now >= idleDeadline {
            context.close(promise: nil)
            return
        }
        armTimer(context)
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerAt = .distantFuture
    }
}
