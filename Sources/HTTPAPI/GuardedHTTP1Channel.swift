import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel with a `ConnectionGuard` in front of the HTTP decoder
/// (Hummingbird's own extra handlers go after it, where raw bytes are no longer seen) and, when
/// given, a `PublishFastPath` just before the router.
public struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    public typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let connectionGuard: ConnectionGuard
    let publishFastPath: PublishFastPath.Settings?

    public var responder: HTTPChannelHandler.Responder { inner.responder }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(connectionGuard.makeHandler(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            if let publishFastPath {
                // After the connection state handler, so it sees fast-path requests and answers too
                // (idle timeout, graceful close).
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(PublishFastPath(settings: publishFastPath),
                                    position: .after(try sync.handler(type: HTTPConnectionStateHandler.self)))
            }
            return value
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 behind `connectionGuard`.
    /// With `publishFastPath`, plain single publishes are answered in the pipeline (`PublishFastPath`).
    public static func guardedHTTP1(configuration: HTTP1Channel.Configuration, connectionGuard: ConnectionGuard,
                                    publishFastPath: SidecarRouter? = nil) -> HTTPServerBuilder {
        let settings = publishFastPath.map {
            PublishFastPath.Settings(publisher: $0.publisher, tokens: $0.tokens, maxBodyBytes: $0.maxBodyBytes)
        }
        return .init { responder in
            GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), connectionGuard: connectionGuard,
                                publishFastPath: settings)
        }
    }
}
