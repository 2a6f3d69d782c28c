import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel with a `ConnectionGuard` in front of the HTTP decoder
/// (Hummingbird's own extra handlers go after it, where raw bytes are no longer seen).
public struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    public typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let connectionGuard: ConnectionGuard

    public var responder: HTTPChannelHandler.Responder { inner.responder }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(connectionGuard.makeHandler(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    public func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 behind `connectionGuard`.
    public static func guardedHTTP1(configuration: HTTP1Channel.Configuration, connectionGuard: ConnectionGuard) -> HTTPServerBuilder {
        .init { responder in
            GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), connectionGuard: connectionGuard)
        }
    }
}
