@testable import Delivery
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// The delivery client against a real HTTP/1.1 server on loopback whose routes misbehave in the
/// ways apps do: closing after each answer, closing idle connections without saying so, hanging,
/// huge bodies, 1xx interim answers, bodies ended by closing.
@Suite struct HTTP1ConnectionPoolTests {
    @Test func keepAliveConnectionsAreReused() async throws {
        try await withServer { server, channel in
            for _ in 0..<20 {
                let response = try await channel.send(method: .POST, path: "/ok", body: ByteBuffer(string: "hi"), timeout: 30)
                #expect(response.status == 200)
                #expect(String(buffer: response.body) == "ok:2")
            }
            #expect(server.accepted == 1)
        }
    }

    @Test func connectionCloseAnswersOpenANewConnectionEachTime() async throws {
        try await withServer { server, channel in
            for _ in 0..<5 {
                let response = try await channel.send(method: .POST, path: "/close", timeout: 30)
                #expect(response.status == 200)
            }
            #expect(server.accepted == 5)
        }
    }

    @Test func anIdleConnectionTheAppClosedSilentlyIsRetriedOnce() async throws {
        try await withServer { server, channel in
            // /drop answers with keep-alive, then closes the connection a moment later.
            let r1 = try await channel.send(method: .POST, path: "/drop", timeout: 30)
            #expect(r1.status == 200)
            try await Task.sleep(for: .seconds(1))  // well after the app closed it, even on a loaded machine
            let r2 = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            #expect(r2.status == 200)
            #expect(server.accepted == 2)
        }
    }

    @Test func aReusedConnectionClosedUnderTheRequestIsTriedOnceMoreOnANewOne() async throws {
        try await withServer { server, channel in
            // /flaky answers the first request of a connection and closes the connection, unanswered,
            // on the next one: the keep-alive race where the app closes as Courier sends.
            let first = try await channel.send(method: .POST, path: "/flaky", timeout: 30)
            let second = try await channel.send(method: .POST, path: "/flaky", timeout: 30)
            #expect(first.status == 200 && second.status == 200)
            #expect(server.accepted == 2)
        }
    }

    @Test func aHangingRouteTimesOutAndItsConnectionIsNotReused() async throws {
        try await withServer { server, channel in
            let started = ContinuousClock.now
            await #expect(throws: HTTP1ExchangeError.timedOut) {
                _ = try await channel.send(method: .POST, path: "/hang", timeout: 0.3)
            }
            // The route never answers: only the 0.3 s timeout ends the call (a loose bound, as the
            // suite runs in parallel on two cores; the idle timeout would take 60 s).
            #expect(ContinuousClock.now - started < .seconds(30))
            let r3 = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            #expect(r3.status == 200)
            #expect(server.accepted == 2)
        }
    }

    @Test func aTimerArmedForAShortTimeoutDoesNotEndALongerRequestEarly() async throws {
        try await withServer { _, channel in
            // The first request arms the connection's one timer 1 s ahead; the second, with 3 s,
            // must outlive that early firing and time out only at its own deadline. (On a machine
            // too loaded to answer /ok within 1 s the second goes on a new connection: still valid.)
            _ = try? await channel.send(method: .POST, path: "/ok", timeout: 1)
            let started = ContinuousClock.now
            await #expect(throws: HTTP1ExchangeError.timedOut) {
                _ = try await channel.send(method: .POST, path: "/hang", timeout: 3)
            }
            let took = ContinuousClock.now - started
            #expect(took >= .milliseconds(2900) && took < .seconds(60))
        }
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withServer(idleTimeout: .milliseconds(300)) { server, channel in
            // A request with a long timeout in between must not keep the connection open past idle.
            _ = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            _ = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            for _ in 0..<300 where server.open > 0 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(server.open == 0)
            let before = server.accepted  // 1, or 2 if the machine was slow enough to idle between the two
            let again = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            #expect(again.status == 200)
            #expect(server.accepted == before + 1)
        }
    }

    @Test func largeBodiesAreTruncatedAndTheConnectionStaysUsable() async throws {
        try await withServer { server, base in
            var channel = base
            channel.maxResponseBytes = 1000
            let response = try await channel.send(method: .POST, path: "/big", timeout: 30)
            #expect(response.status == 200 && response.truncated && response.body.readableBytes == 1000)
            let r4 = try await channel.send(method: .POST, path: "/ok", timeout: 30)
            #expect(r4.status == 200)
            #expect(server.accepted == 1)
        }
    }

    @Test func interimAnswersAreSkipped() async throws {
        try await withServer { _, channel in
            let response = try await channel.send(method: .POST, path: "/hints", timeout: 30)
            #expect(response.status == 201 && String(buffer: response.body) == "after hints")
        }
    }

    @Test func aBodyEndedByClosingIsRead() async throws {
        try await withServer { server, channel in
            let response = try await channel.send(method: .GET, path: "/eof", timeout: 30)
            #expect(response.status == 200 && String(buffer: response.body) == "until close")
            let r5 = try await channel.send(method: .GET, path: "/ok", timeout: 30)
            #expect(r5.status == 200)
            #expect(server.accepted == 2)
        }
    }

    @Test func aResetBeforeTheAnswerIsAnError() async throws {
        try await withServer { _, channel in
            await #expect(throws: HTTP1ExchangeError.closedBeforeResponse) {
                _ = try await channel.send(method: .POST, path: "/reset", timeout: 30)
            }
        }
    }

    @Test func atTheConnectionLimitCallersWaitForAConnection() async throws {
        try await withServer(maxConnections: 2) { server, channel in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await channel.send(method: .POST, path: "/slow", timeout: 30).status }
                }
                for try await status in group { #expect(status == 200) }
            }
            #expect(server.accepted == 2)
            #expect(server.mostAtOnce == 2)
        }
    }

    /// Outbound connections draw on the process's descriptor budget: with room for three beside 17
    /// inbound ones, ten concurrent requests share three connections, and every descriptor goes
    /// back to the budget when the pool shuts down.
    @Test func theDescriptorBudgetBoundsNewConnections() async throws {
        let budget = DescriptorBudget(limit: { DescriptorBudget.reserve + 20 })
        for _ in 0..<17 { budget.inboundOpened() }
        let server = try await TestServer.start()
        let pool = HTTP1ConnectionPool(host: "127.0.0.1", port: server.port, maxConnections: 64, budget: budget)
        let channel = AppChannel(pool: pool, apiToken: nil)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask { try await channel.send(method: .POST, path: "/slow", timeout: 30).status }
            }
            for try await status in group { #expect(status == 200) }
        }
        #expect(server.accepted == 3 && server.mostAtOnce == 3)
        #expect(budget.outboundCount == 3)
        await pool.shutdown()
        try await server.stop()
        for _ in 0..<50 where budget.outboundCount > 0 { try await Task.sleep(for: .milliseconds(20)) }  // closes land on the event loop
        #expect(budget.outboundCount == 0)
    }

    @Test func nothingListeningIsAnError() async throws {
        let pool = HTTP1ConnectionPool(host: "127.0.0.1", port: 1, connectTimeout: .seconds(2))
        let channel = AppChannel(pool: pool, apiToken: nil)
        await #expect(throws: (any Error).self) {
            _ = try await channel.send(method: .GET, path: "/", timeout: 2)
        }
        await pool.shutdown()
    }

    @Test func tokenAndHostHeadersAreSent() async throws {
        try await withServer(token: "s3cret") { _, channel in
            let response = try await channel.send(method: .GET, path: "/echo-headers", timeout: 30)
            let text = String(buffer: response.body)
            #expect(text.contains("dapr-api-token=s3cret") && text.contains("host=127.0.0.1:"))
        }
    }

    func withServer(maxConnections: Int = 64, token: String? = nil, idleTimeout: TimeAmount = .seconds(60),
                    _ body: (TestServer, AppChannel) async throws -> Void) async throws {
        let server = try await TestServer.start()
        let pool = HTTP1ConnectionPool(host: "127.0.0.1", port: server.port, maxConnections: maxConnections, idleTimeout: idleTimeout)
        do {
            try await body(server, AppChannel(pool: pool, apiToken: token))
        } catch {
            await pool.shutdown()
            try await server.stop()
            throw error
        }
        await pool.shutdown()
        try await server.stop()
    }
}

/// An HTTP/1.1 server whose routes behave as described in `ScriptedRoutes`.
final class TestServer: Sendable {
    let channel: any Channel
    let port: Int
    let stats: Mutex<(accepted: Int, open: Int, mostAtOnce: Int)>

    var accepted: Int { stats.withLock { $0.accepted } }
    var mostAtOnce: Int { stats.withLock { $0.mostAtOnce } }
    var open: Int { stats.withLock { $0.open } }

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.stats = Mutex((0, 0, 0))
    }

    static func start() async throws -> TestServer {
        let box = StatsBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                box.connected(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(ScriptedRoutes())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = TestServer(channel: channel)
        box.server.withLock { $0 = server }
        return server
    }

    func stop() async throws {
        try await channel.close()
    }
}

final class StatsBox: Sendable {
    let server = Mutex<TestServer?>(nil)

    func connected(_ channel: any Channel) {
        guard let server = server.withLock({ $0 }) else { return }
        server.stats.withLock { s in
            s.accepted += 1
            s.open += 1
            s.mostAtOnce = max(s.mostAtOnce, s.open)
        }
        channel.closeFuture.whenComplete { _ in server.stats.withLock { $0.open -= 1 } }
    }
}

final class ScriptedRoutes: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var requests = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let head else { return }
            answer(context, head)
        }
    }

    private func send(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ text: String, headers: HTTPHeaders = [:],
                      version: HTTPVersion = .http1_1, then: (@Sendable () -> Void)? = nil) {
        var headers = headers
        if version == .http1_1 { headers.replaceOrAdd(name: "content-length", value: String(text.utf8.count)) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in then?() }
    }

    private func answer(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let channel = context.channel
        requests += 1
        switch head.uri {
        case "/flaky" where requests > 1:
            channel.close(promise: nil)
        case "/flaky":
            send(context, .ok, "first on this connection")
        case "/ok":
            send(context, .ok, "ok:\(bodyBytes)")
        case "/close":
            send(context, .ok, "bye", headers: ["connection": "close"]) { channel.close(promise: nil) }
        case "/drop":
            send(context, .ok, "later") {
                channel.eventLoop.scheduleTask(in: .milliseconds(50)) { channel.close(promise: nil) }
            }
        case "/hang":
            break
        case "/big":
            send(context, .ok, String(repeating: "z", count: 3 * 1024 * 1024))
        case "/hints":
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .custom(code: 103, reasonPhrase: "Early Hints")))), promise: nil)
            send(context, .created, "after hints")
        case "/eof":
            send(context, .ok, "until close", headers: ["connection": "close"], version: .http1_0) { channel.close(promise: nil) }
        case "/reset":
            channel.close(promise: nil)
        case "/slow":
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(100)) { bound.value.0.send(bound.value.1, .ok, "slow") }
        case "/echo-headers":
            send(context, .ok, head.headers.map { "\($0.name.lowercased())=\($0.value)" }.joined(separator: "\n"))
        default:
            send(context, .notFound, "")
        }
    }
}
