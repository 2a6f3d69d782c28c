import Foundation
import Testing

/// The `courier` binary's own bad-input behaviour: `validate` and start-up failures print
/// `file:line: message` and exit 1, never crash or hang.
@Suite struct CommandLineTests {
    func run(_ arguments: [String], timeout: Double = 30) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CourierProcess.executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate(); throw TestFailure("courier \(arguments) hung") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, output)
    }

    func directory(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func validateReportsEveryProblemWithFileAndLine() throws {
        let dir = try directory([
            "a.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: k\nspec:\n  type: pubsub.nope\n  version: v1\n",
            "b.yaml": "kind: Subscription\nspec:\n  pubsubname: p\n  topic: [unclosed\n",
            "c.yaml": "kind: Component\nmetadata:\n  name: ok\nspec:\n  type: pubsub.embedded\n",
        ])
        let (status, output) = try run(["validate", dir])
        #expect(status == 1)
        #expect(output.contains("\(dir)/a.yaml:6: Component 'k': unknown component type 'pubsub.nope'"), "\(output)")
        #expect(output.contains("\(dir)/b.yaml:"), "\(output)")
        #expect(output.contains("2 problem(s) found"))
        let good = try directory(["c.yaml": "kind: Component\nmetadata:\n  name: ok\nspec:\n  type: pubsub.embedded\n"])
        let ok = try run(["validate", good])
        #expect(ok.status == 0 && ok.output.contains("ok: 1 component(s)"))
    }

    @Test func badComponentMetadataStopsStartWithTheFile() throws {
        let dir = try directory(["p.yaml": "kind: Component\nmetadata:\n  name: ps\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: synchronous\n    value: sometimes\n"])
        let (status, output) = try run(["run", "--resources-path", dir, "--data-dir", dir + "/data", "--dapr-http-port", "0", "--metrics-port", "0"])
        #expect(status == 1)
        #expect(output.contains("\(dir)/p.yaml:1: component 'ps' (pubsub.embedded): synchronous must be normal or full"), "\(output)")
    }

    @Test func validateChecksEveryBrokersMetadataWithoutConnecting() throws {
        func component(_ name: String, _ type: String, _ metadata: [(String, String)]) -> String {
            "kind: Component\nmetadata:\n  name: \(name)\nspec:\n  type: \(type)\n  metadata:\n"
                + metadata.map { "  - name: \($0.0)\n    value: \"\($0.1)\"\n" }.joined()
        }
        let dir = try directory([
            "k.yaml": component("k", "pubsub.kafka", [("brokers", "127.0.0.1:1"), ("authType", "none"), ("initialOffset", "middle")]),
            "r.yaml": component("r", "pubsub.rabbitmq", [("connectionString", "amqp://127.0.0.1:1"), ("exchangeKind", "ring")]),
            "m.yaml": component("m", "pubsub.mqtt3", [("url", "tcp://127.0.0.1:1"), ("qos", "3")]),
            "j.yaml": component("j", "pubsub.jetstream", [("natsURL", "nats://127.0.0.1:1"), ("deliverPolicy", "sometimes")]),
            "d.yaml": component("d", "pubsub.redis", [("redisHost", "127.0.0.1:1"), ("queueDepth", "-1")]),
        ])
        let (status, output) = try run(["validate", dir])
        #expect(status == 1)
        #expect(output.contains("\(dir)/k.yaml:1: component 'k' (pubsub.kafka): initialOffset must be newest or oldest"), "\(output)")
        #expect(output.contains("\(dir)/r.yaml:1: component 'r' (pubsub.rabbitmq): exchangeKind must be"), "\(output)")
        #expect(output.contains("\(dir)/m.yaml:1: component 'm' (pubsub.mqtt3): qos must be 0, 1 or 2"), "\(output)")
        #expect(output.contains("\(dir)/j.yaml:1: component 'j' (pubsub.jetstream): deliverPolicy must be"), "\(output)")
        #expect(output.contains("\(dir)/d.yaml:1: component 'd' (pubsub.redis): queueDepth must be a positive integer"), "\(output)")
        #expect(output.contains("5 problem(s) found"), "\(output)")
    }

    @Test func validateChecksBindingComponents() throws {
        func component(_ name: String, _ type: String, _ metadata: [(String, String)]) -> String {
            "kind: Component\nmetadata:\n  name: \(name)\nspec:\n  type: \(type)\n  metadata:\n"
                + metadata.map { "  - name: \($0.0)\n    value: \"\($0.1)\"\n" }.joined()
        }
        let dir = try directory([
            "c.yaml": component("c", "bindings.cron", [("schedule", "* * * * *")]),
            "u.yaml": component("u", "bindings.carrier-pigeon", [("x", "y")]),
            "k.yaml": component("k", "bindings.kafka", [("brokers", "127.0.0.1:1"), ("authType", "none")]),
            "r.yaml": component("r", "bindings.rabbitmq", [("host", "amqp://127.0.0.1:1")]),
            "h.yaml": component("h", "bindings.http", [("url", "ftp://x")]),
            "f.yaml": component("f", "bindings.cron", [("schedule", "@every 5s"), ("forwardTo", "nowhere"), ("direction", "sideways")]),
        ])
        let (status, output) = try run(["validate", dir])
        #expect(status == 1)
        #expect(output.contains("\(dir)/c.yaml:1: component 'c' (bindings.cron): schedule: schedule '* * * * *' must have 6 fields"), "\(output)")
        #expect(output.contains("\(dir)/u.yaml:") && output.contains("bindings.carrier-pigeon"), "\(output)")
        #expect(output.contains("\(dir)/k.yaml:1: component 'k' (bindings.kafka): set topics (input), publishTopic (output) or both"), "\(output)")
        #expect(output.contains("\(dir)/r.yaml:1: component 'r' (bindings.rabbitmq): queueName is required"), "\(output)")
        #expect(output.contains("\(dir)/h.yaml:1: component 'h' (bindings.http): url is required"), "\(output)")
        #expect(output.contains("\(dir)/f.yaml:") && output.contains("direction must be input, output"), "\(output)")
    }

    @Test func badFlagsAreUsageErrors() throws {
        let (status, output) = try run(["run", "--max-body-size", "lots"])
        #expect(status != 0 && output.contains("--max-body-size"))
        // http and grpc are served; TLS toward the app (https, grpcs) and h2c are not.
        let proto = try run(["run", "--app-protocol", "grpcs"])
        #expect(proto.status != 0 && proto.output.contains("not supported") && proto.output.contains("use http or grpc"))
    }

    @Test func evalPrintsCELLiteralsAndPositionsErrors() throws {
        let dir = try directory(["event.json": #"{"type":"widget","data":{"price":150.0,"tags":["a"]}}"#])
        let ok = try run(["eval", "event.data.price > 100.0 && event.type == 'widget'", "--event", dir + "/event.json"])
        #expect(ok.status == 0 && ok.output == "true\n")
        let values = try run(["eval", "[1, 1u, 1.0, 'x', b'\\x00', {'k': null}, event.data.tags]", "--event", dir + "/event.json"])
        #expect(values.output == "[1, 1u, 1.0, \"x\", b\"\\x00\", {\"k\": null}, [\"a\"]]\n", "\(values.output)")
        let withVar = try run(["eval", "n + 1.0", "--var", "n=2"])
        #expect(withVar.output == "3.0\n")
        let syntax = try run(["eval", "1 +"])
        #expect(syntax.status == 1 && syntax.output.contains("column 4"))
        let runtime = try run(["eval", "1 / 0"])
        #expect(runtime.status == 1 && runtime.output.contains("division by zero"))
    }
}
