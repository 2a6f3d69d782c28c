import ArgumentParser
import AsyncHTTPClient
import Courier
import Foundation
import Hummingbird

/// `courier demo`: Courier on the embedded broker plus a tiny subscriber app that prints every
/// event it receives; publishes one greeting so a newcomer sees the whole path work.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run Courier with a sample subscriber on port 3000.")

    @OptionGroup var options: RunOptions

    func run() async throws {
        var o = try options.courierOptions()
        let appPort = o.appPort ?? 3000
        o.appPort = appPort
        let logger = LogSetup.bootstrap(level: o.logLevel, json: o.logAsJSON)
        let router = Router()
        router.get("/dapr/subscribe") { _, _ -> Response in
            let body = #"[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]"#
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/orders") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 4 << 20)
            say("demo subscriber received on /orders: \(String(buffer: body))")
            return Response(status: .ok)
        }
        let subscriber = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: appPort)), logger: logger)
        let runtime = try await CourierRuntime(options: o, logger: logger)
        say(StartupReport.text(runtime))
        let httpPort = o.httpPort
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.runService() }
            group.addTask { try await runtime.run() }
            group.addTask {
                try await Task.sleep(for: .seconds(1))
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/v1.0/publish/pubsub/orders")
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"orderId":1,"item":"hello from courier demo"}"#))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                say("demo published one event to pubsub/orders: HTTP \(response.status.code)")
                say("publish more with: curl -X POST http://127.0.0.1:\(httpPort)/v1.0/publish/pubsub/orders -H 'content-type: application/json' -d '{\"orderId\":2}'")
            }
            try await group.next()
            try await group.next()
        }
    }
}
