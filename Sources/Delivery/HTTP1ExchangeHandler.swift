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
    private var timer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var status = 0
    private var keepAlive = true
    private var sawHead = false
    private var informational = false
    private var body = ByteBuffer()
    private var truncated = false

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { armIdleTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(.closedBeforeResponse)
        idleTimer?.cancel()
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil, context.channel.isActive else {
            exchange.promise.fail(HTTP1ExchangeError.closedBeforeResponse)
            promise?.fail(HTTP1ExchangeError.closedBeforeResponse)
            return
        }
        idleTimer?.cancel()
        idleTimer = nil
        pending = exchange
        status = 0
        keepAlive = true
        sawHead = false
        informational = false
        truncated = false
        body.clear()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: exchange.timeout) { bound.value.timedOut() }
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
        idleTimer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange = pending {
            pending = nil
            timer?.cancel()
            exchange.promise.fail(error)
        }
        context.close(promise: nil)
    }

    private func complete(_ context: ChannelHandlerContext, _ exchange: HTTP1Exchange) {
        pending = nil
        timer?.cancel()
        timer = nil
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
        timer?.cancel()
        timer = nil
        exchange.promise.fail(error)
    }

    private func timedOut() {
        guard pending != nil else { return }
        fail(.timedOut)
        context?.close(promise: nil)
    }

    private func armIdleTimer(_ context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let channel = context.channel
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) { channel.close(promise: nil) }
    }
}
