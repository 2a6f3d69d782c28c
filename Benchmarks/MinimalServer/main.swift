import NIOCore
import NIOHTTP1
import NIOPosix

/// The smallest useful HTTP/1.1 server on SwiftNIO: every request is answered `200 ok` on a
/// keep-alive connection. scripts/bench drives it like Courier's healthz to show the ceiling the
/// machine, the load generator and NIO set before any framework or Courier code runs.
/// Usage: MinimalServer PORT
final class OKHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "2")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "ok")))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 3999
let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(OKHandler()) }
    }
    .bind(host: "127.0.0.1", port: port).get()
try await channel.closeFuture.get()
