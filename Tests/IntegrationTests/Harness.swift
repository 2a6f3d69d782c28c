import AsyncHTTPClient
import Courier
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// Courier in-process on real loopback sockets, with its resources in a temporary directory and a
/// real subscriber app.
final class Harness: Sendable {
    let runtime: CourierRuntime
    let subscriber: TestSubscriber?
    let httpPort: Int
    let metricsPort: Int
    let directory: String
    private let task: Task<Void, any Error>

    static let defaultPubsub = """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: pubsub
        spec:
          type: pubsub.embedded
          version: v1
          metadata:
          - name: maxMessageBytes
            value: "200000"
        """

    /// `resources` maps file names to YAML; `subscriptions` is the app's `/dapr/subscribe` JSON.
    init(resources: [String: String] = ["pubsub.yaml": Harness.defaultPubsub], subscriptions: String? = nil,
         appID: String = "app1", apiToken: String? = nil, appAPIToken: String? = nil, withApp: Bool = true,
         configure: (inout CourierOptions) -> Void = { _ in },
         respond: @escaping TestSubscriber.Responder = { _, _ in (200, "") },
         probe: @escaping @Sendable (String) -> Int = { _ in 200 }) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-it-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/resources", withIntermediateDirectories: true)
        for (name, text) in resources { try text.write(toFile: "\(dir)/resources/\(name)", atomically: true, encoding: .utf8) }
        directory = dir
        subscriber = withApp ? try await TestSubscriber(subscriptions: subscriptions, respond: respond, probe: probe) : nil
        var o = CourierOptions()
        o.appID = appID
        o.appPort = subscriber?.port
        o.httpPort = try PortAllocator.free()
        o.metricsPort = try PortAllocator.free()
        o.grpcPort = try PortAllocator.free()
        o.resourcesPaths = [dir + "/resources"]
        o.dataDirectory = dir + "/data"
        o.apiToken = apiToken
        o.appAPIToken = appAPIToken
        o.gracefulShutdownSeconds = 2
        configure(&o)
        httpPort = o.httpPort
        metricsPort = o.metricsPort
        var logger = Logger(label: "courier-test")
        logger.logLevel = .warning
        runtime = try await CourierRuntime(options: o, logger: logger)
        let runtime = self.runtime
        task = Task { try await runtime.run() }
        try await PortAllocator.waitUntilListening(o.httpPort)
        if withApp {
            let deadline = Date().addingTimeInterval(10)
            while !runtime.subscriptions.isReady && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    struct HTTPResult {
        var status: Int
        var body: String
        var headers: HTTPHeaders
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
        var errorCode: String? { json?["errorCode"] as? String }
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [],
                 port: Int? = nil) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port ?? httpPort)\(path)")
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return HTTPResult(status: Int(response.status.code), body: String(buffer: bytes), headers: response.headers)
    }

    func publish(_ path: String, _ body: String, contentType: String? = "application/json", headers: [(String, String)] = []) async throws -> HTTPResult {
        var all = headers
        if let contentType { all.append(("content-type", contentType)) }
        return try await request(.POST, "/v1.0/publish/\(path)", body: body, headers: all)
    }

    func stop() async {
        await runtime.shutdown()
        _ = await task.result
        await subscriber?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a harness and always stops it.
func withHarness(resources: [String: String] = ["pubsub.yaml": Harness.defaultPubsub], subscriptions: String? = nil,
                 appID: String = "app1", apiToken: String? = nil, appAPIToken: String? = nil, withApp: Bool = true,
                 configure: (inout CourierOptions) -> Void = { _ in },
                 respond: @escaping TestSubscriber.Responder = { _, _ in (200, "") },
                 probe: @escaping @Sendable (String) -> Int = { _ in 200 },
                 _ body: (Harness) async throws -> Void) async throws {
    let h = try await Harness(resources: resources, subscriptions: subscriptions, appID: appID, apiToken: apiToken,
                              appAPIToken: appAPIToken, withApp: withApp, configure: configure, respond: respond, probe: probe)
    do {
        try await body(h)
    } catch {
        await h.stop()
        throw error
    }
    await h.stop()
}

/// Starts Courier on the resources in `directory` expecting it to refuse: the problems it printed,
/// or `nil` (and a recorded issue) when it started.
func startupProblems(resources directory: String, appID: String = "courier", dataDirectory: String) async throws -> String? {
    var options = CourierOptions()
    options.appID = appID
    options.resourcesPaths = [directory]
    options.dataDirectory = dataDirectory
    do {
        let runtime = try await CourierRuntime(options: options, logger: Logger(label: "startup-test"))
        Issue.record("Courier started with the resources in \(directory)")
        await runtime.shutdown()
        return nil
    } catch let error as CourierRuntime.StartupError {
        return error.description
    }
}

/// `/dapr/subscribe` JSON for one topic.
func subscription(topic: String, route: String = "/events", deadLetter: String? = nil, metadata: [String: String] = [:],
                  bulk: String? = nil, pubsub: String = "pubsub") -> String {
    var fields = [#""pubsubname":"\#(pubsub)""#, #""topic":"\#(topic)""#, #""route":"\#(route)""#]
    if let deadLetter { fields.append(#""deadLetterTopic":"\#(deadLetter)""#) }
    if !metadata.isEmpty {
        fields.append(#""metadata":{"# + metadata.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",") + "}")
    }
    if let bulk { fields.append(#""bulkSubscribe":\#(bulk)"#) }
    return "{" + fields.joined(separator: ",") + "}"
}
