import CloudEvents
import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// `POST|PUT /v1.0/publish/{pubsub}/{topic}` answered in the channel pipeline, without a trip
/// through the router and its per-request async machinery: the body is collected on the event
/// loop, the publish runs as one task, the answer is written back on the loop.
///
/// Only the common, plain shape takes this path: a known pubsub, a topic, a `Content-Length`
/// within the limit, the right API token, no percent-encoding in the path, no `Connection: close`.
/// Every other request (and every error those checks would raise) goes on to the router unchanged,
/// so both paths answer alike.
///
/// Answers keep the order of pipelined requests: while a request is being answered (here, or by
/// the router until its response ends), whatever arrives next on the connection waits here (reads
/// paused once something waits), and is handled once the answer is out. The router may answer
/// early (a 413 before the body ended); the rest of that request still goes to it.
final class PublishFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the handler needs from the API: shared by every connection.
    struct Settings: Sendable {
        var publisher: Publisher
        var tokens: CallerTokens
        var maxBodyBytes: Int
    }

    private struct Accepted {
        var pubsub: String
        var topic: String
        var contentType: String?
        var metadata: [String: String]
        var trace: TraceContext?
        /// The app the caller acts as (`nil`: the `--app-id` app).
        var callerAppID: String?
    }

    private enum State {
        case idle
        /// A request the router answers: whether its end went in and its answer's end came out.
        case forwarding(requestEnded: Bool, responseEnded: Bool)
        case collecting(Accepted, ByteBuffer)
        case publishing
    }

    /// Inbound events held while an answer is pending, replayed in order.
    private enum Held {
        case part(HTTPRequestPart)
        case error(any Error)
        case event(Any)
    }

    private let settings: Settings
    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var held: [Held] = []
    private var readPending = false

    init(settings: Settings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Whether inbound events must wait: an answer is pending (or earlier events already wait).
    private var holding: Bool {
        if !held.isEmpty { return true }
        switch state {
        case .idle, .collecting: return false
        case .publishing: return true
        case .forwarding(let requestEnded, let responseEnded): return requestEnded && !responseEnded
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if holding {
            held.append(.part(part))
            return
        }
        handle(context, part)
    }

    private func handle(_ context: ChannelHandlerContext, _ part: HTTPRequestPart) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if let accepted = accept(head) {
                let length = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
                state = .collecting(accepted, context.channel.allocator.buffer(capacity: length))
            } else {
                state = .forwarding(requestEnded: false, responseEnded: false)
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.collecting(let accepted, var body), .body(var chunk)):
            state = .idle  // drop the reference so the append does not copy
            body.writeBuffer(&chunk)
            state = .collecting(accepted, body)
        case (.collecting(let accepted, let body), .end):
            state = .publishing
            publish(context, accepted, body)
        case (.forwarding(_, let responseEnded), .end):
            state = responseEnded ? .idle : .forwarding(requestEnded: true, responseEnded: false)
            context.fireChannelRead(wrapInboundOut(part))
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if holding {
            held.append(.error(error))
            return
        }
        abandonPartialPublish()
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A half-close must not reach the router (which then closes the output) before a pending answer.
        if holding {
            held.append(.event(event))
            return
        }
        abandonPartialPublish()
        context.fireUserInboundEventTriggered(event)
    }

    /// A publish whose body never completed (broken framing, input closed) is dropped; the router,
    /// which then sees the error or the closed input, answers or closes as for any request.
    private func abandonPartialPublish() {
        if case .collecting = state { state = .idle }
    }

    /// Reads go on while an answer is pending, until something is actually held: a client that
    /// waits for its answer (the usual case) costs no pause and resume of the socket's read
    /// interest; one that pipelines is paused after at most one read's worth of requests.
    func read(context: ChannelHandlerContext) {
        if !held.isEmpty {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data), case .forwarding(let requestEnded, _) = state else { return }
        if requestEnded {
            state = .idle
            replayLater(context)
        } else {
            state = .forwarding(requestEnded: false, responseEnded: true)
        }
    }

    /// Hands held events on once the current answer is out (on the next loop turn, not inside a write).
    private func replayLater(_ context: ChannelHandlerContext) {
        guard !held.isEmpty || readPending else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.replay() }
    }

    private func replay() {
        guard let context else { return }
        // The next handler (NIOAsyncChannel's) passes reads on at read-complete.
        defer { context.fireChannelReadComplete() }
        while !held.isEmpty {
            if case .publishing = state { return }
            if case .forwarding(true, false) = state { return }
            switch held.removeFirst() {
            case .part(let part): handle(context, part)
            case .error(let error): context.fireErrorCaught(error)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            }
        }
        if readPending {
            readPending = false
            context.read()
        }
    }

    /// The request if it is a plain publish this handler answers; nil sends it to the router.
    private func accept(_ head: HTTPRequest) -> Accepted? {
        guard head.method == .post || head.method == .put, let target = head.path,
              target.hasPrefix("/v1.0/publish/"), !target.utf8.contains(UInt8(ascii: "%")),
              head.headerFields[.transferEncoding] == nil,
              let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length >= 0, length <= settings.maxBodyBytes,
              head.headerFields[.connection].map({ !$0.lowercased().contains("close") }) ?? true
        else { return nil }
        var caller: CallerTokens.Caller?
        if settings.tokens.required {
            // An unknown token goes to the router, which answers 401.
            guard let known = settings.tokens.caller(presenting: head.headerFields[HTTPField.Name("dapr-api-token")!] ?? "") else { return nil }
            caller = known
        }
        let uri = URI(target)
        let segments = uri.path.utf8.dropFirst("/v1.0/publish/".utf8.count).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard segments.count >= 2, segments.allSatisfy({ !$0.isEmpty }) else { return nil }
        let pubsub = String(decoding: segments[0], as: UTF8.self)
        guard pubsub != "bulk", settings.publisher.target(named: pubsub) != nil else { return nil }
        let topic = segments.dropFirst().map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
        return Accepted(pubsub: pubsub, topic: topic, contentType: head.headerFields[.contentType],
                        metadata: SidecarRouter.queryMetadata(uri), trace: SidecarRouter.trace(head.headerFields), callerAppID: caller?.appID)
    }

    private func publish(_ context: ChannelHandlerContext, _ accepted: Accepted, _ body: ByteBuffer) {
        let bytes = Array(body.readableBytesView)
        let publisher = settings.publisher
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        Task {
            let publish = { () async -> DaprError? in
                do throws(DaprError) {
                    try await publisher.publish(pubsub: accepted.pubsub, topic: accepted.topic, body: bytes,
                                                contentType: accepted.contentType, metadata: accepted.metadata, trace: accepted.trace)
                    return nil
                } catch {
                    return error
                }
            }
            // A task-local binding only for an App's caller: the common publish binds nothing.
            let answer = if let caller = accepted.callerAppID { await CallerTokens.$callerAppID.withValue(caller) { await publish() } } else { await publish() }
            loop.execute { bound.value.answer(answer) }
        }
    }

    private func answer(_ failure: DaprError?) {
        state = .idle
        guard let context else { return }
        defer { replayLater(context) }
        var head = HTTPResponse(status: failure?.status ?? .noContent)
        head.headerFields[.server] = "courier"
        if let failure {
            let body = failure.body
            head.headerFields[.contentType] = "application/json"
            head.headerFields[.contentLength] = String(body.count)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        } else {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
