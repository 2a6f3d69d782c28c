import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP subscriber app on a loopback port: answers `/dapr/subscribe` with the given JSON and
/// every other POST through `respond`, recording each request.
final class TestSubscriber: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]
        var method = "POST"
        var query = ""
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    typealias Responder = @Sendable (Received, Int) async -> (status: Int, body: String)

    let port: Int
    private let task: Task<Void, any Error>
    private let group: ServiceGroup

    /// `probe` answers `OPTIONS {path}` (the input-binding probe) with a status.
    init(subscriptions: String?, respond: @escaping Responder = { _, _ in (200, "") },
         probe: @escaping @Sendable (String) -> Int = { _ in 200 }) async throws {
        let port = try PortAllocator.free()
        self.port = port
        let router = Router()
        let box = ReceivedBox()
        router.get("/dapr/subscribe") { _, _ -> Response in
            guard let subscriptions else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: subscriptions)))
        }
        router.on("/**", method: .options) { request, _ -> Response in
            Response(status: .init(code: probe(request.uri.path)))
        }
        let handle: @Sendable (Request) async throws -> Response = { request in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let item = Received(path: request.uri.path, headers: headers, body: Array(body.readableBytesView),
                                method: request.method.rawValue, query: request.uri.query ?? "")
            let n = box.append(item)
            let (status, text) = await respond(item, n)
            return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        for method in [HTTPRequest.Method.post, .put, .patch, .delete, .get, .head, .trace] {
            router.on("/**", method: method) { request, _ in try await handle(request) }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              logger: .init(label: "test-subscriber", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.box = box
        // Run in a service group so `stop` can shut the server down gracefully: cancelling its
        // task while a connection is being accepted traps in NIO ("Deinited NIOAsyncWriter
        // without calling finish()", apple/swift-nio#3481), which once took the test process down.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [],
                                                      logger: .init(label: "test-subscriber", factory: { _ in SwiftLogNoOpLogHandler() })))
        self.group = group
        task = Task { try await group.run() }
        try await PortAllocator.waitUntilListening(port)
    }

    let box: ReceivedBox

    var requests: [Received] { box.all }

    /// Waits until at least `count` requests arrived (matching `path` if given).
    @discardableResult
    func wait(for count: Int, path: String? = nil, timeout: Double = 10) async throws -> [Received] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let matching = box.all.filter { path == nil || $0.path == path }
            if matching.count >= count { return matching }
            try await Task.sleep(for: .milliseconds(20))
        }
        let matching = box.all.filter { path == nil || $0.path == path }
        throw TestFailure("expected \(count) requests\(path.map { " on \($0)" } ?? ""), got \(matching.count): \(box.all.map(\.path))")
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        // A handler that never answers (a hanging app) would hold the graceful stop: the server
        // no longer accepts by then, so cancelling is safe.
        let waiter = Task { [task] in
            try? await Task.sleep(for: .seconds(2))
            task.cancel()
        }
        _ = await task.result
        waiter.cancel()
    }
}

final class ReceivedBox: Sendable {
    private let items = Mutex<[TestSubscriber.Received]>([])
    func append(_ r: TestSubscriber.Received) -> Int { items.withLock { $0.append(r); return $0.count } }
    var all: [TestSubscriber.Received] { items.withLock { $0 } }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

import Logging
