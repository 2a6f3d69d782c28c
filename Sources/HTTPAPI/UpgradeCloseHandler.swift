import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Courier speaks plain HTTP/1.1 only. After a request that asks to upgrade (`Upgrade: websocket`
/// or `h2c`) NIO's HTTP parser hands the rest of the connection to the other protocol, so a later
/// request on it would never be answered. This handler answers the upgrade request normally and
/// then closes the connection (with `Connection: close`), so the client opens a new one.
public final class UpgradeCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private var closeAfterResponse = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), head.headerFields[.upgrade] != nil {
            closeAfterResponse = true
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard closeAfterResponse else {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head):
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            written.futureResult.cascade(to: promise)
        }
    }
}
