import Foundation
import Synchronization
import Testing

/// Binding components that change while Courier reads and writes through them: the runners
/// reading a changed component (the flag app's and each App's) drain and start again on the new
/// definition, output invocations switch to the new instance without failing, an added component
/// serves at once and a removed one is gone, and no message written through an acknowledged
/// invocation is lost for any reader.
@Suite(.serialized) struct BindingReloadTests {
    /// MQTT's binding keeps a spool only one instance may open, so its change closes the old
    /// instance before the new one opens while invocations wait. (Redis's binding writes keys,
    /// not the stream it reads, and RabbitMQ's readers share one queue: the writes of this test
    /// cannot reach every reader there.)
    @Test(arguments: ["kafka", "jetstream", "mqtt"])
    func aBindingChangesUnderLoad(_ kind: String) async throws {
        guard BrokerCtl.available() else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let target = "brl-\(kind)-\(run)".replacingOccurrences(of: "-", with: kind == "jetstream" ? "." : "-")
        guard let md = BindingTests.brokerMetadata(kind, target: target, group: "flag-\(run)") else { return }
        let type = "bindings.\(kind == "mqtt" ? "mqtt3" : kind)"
        let reads: @Sendable (String) -> Int = { $0.hasPrefix("/source") ? 200 : 404 }
        let orders = try await TestSubscriber(subscriptions: nil, probe: reads)
        let sink = try await TestSubscriber(subscriptions: nil)
        let app = "orders-\(run)"
        let resources = [
            "source.yaml": BindingTests.component("source", type, md),
            "orders.yaml": GatewayTests.app(app, port: orders.port),
        ]
        let total = 4_000
        let published = LiveReloadTests.Shared(), failed = LiveReloadTests.Shared(), next = LiveReloadTests.Shared()
        do {
            try await withHarness(resources: resources, probe: reads) { h in
                let dir = h.directory + "/resources"
                _ = try await GatewayBindingTests.waitUntilReading(h, [app])
                let deadline = Date().addingTimeInterval(30)
                while !h.runtime.inputBindings.reading.contains("source") && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
                // Eight writers through the output side; an invocation is acknowledged by its 2xx.
                let load = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                while true {
                                    let i = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                                    guard i < total else { return }
                                    var status = 0
                                    for _ in 0..<50 where !(200..<300).contains(status) {
                                        status = (try? await h.request(.POST, "/v1.0/bindings/source", body: #"{"operation":"create","data":{"n":\#(i)}}"#,
                                                                       headers: [("content-type", "application/json")]).status) ?? 0
                                        if !(200..<300).contains(status) { failed.add() }
                                    }
                                    published.add()
                                }
                            }
                        }
                    }
                }
                try await LiveReloadTests.waitForProgress(published, total / 4)

                // 1. The component changes (its route): both readers drain and read on with the new
                // definition; writes go on through the switch.
                try BindingTests.component("source", type, md + [("route", "/source-v2")])
                    .write(toFile: dir + "/source.yaml", atomically: true, encoding: .utf8)
                var r = try await LiveReloadTests.waitForReload(h, "changing source") {
                    LiveReloadTests.changes($0).contains("changed binding component source")
                }
                #expect(r["result"] as? String == "applied", "\(r)")

                try await LiveReloadTests.waitForProgress(published, total / 4)

                // 2. An added component serves at once; removed, it is gone.
                try BindingTests.component("extra", "bindings.http", [("url", "http://127.0.0.1:\(sink.port)/extra")])
                    .write(toFile: dir + "/extra.yaml", atomically: true, encoding: .utf8)
                r = try await LiveReloadTests.waitForReload(h, "adding extra") { LiveReloadTests.changes($0).contains("added binding component extra") }
                var answer = try await h.request(.POST, "/v1.0/bindings/extra", body: #"{"operation":"post","data":{"x":1}}"#,
                                                 headers: [("content-type", "application/json")])
                #expect(answer.status == 200, "the added binding serves: \(answer.status) \(answer.body)")
                #expect(sink.requests.contains { $0.path == "/extra" })
                try FileManager.default.removeItem(atPath: dir + "/extra.yaml")
                r = try await LiveReloadTests.waitForReload(h, "removing extra") { LiveReloadTests.changes($0).contains("removed binding component extra") }
                answer = try await h.request(.POST, "/v1.0/bindings/extra", body: #"{"operation":"post","data":{"x":1}}"#,
                                             headers: [("content-type", "application/json")])
                #expect(answer.status == 500 && answer.json?["message"] as? String == "error invoking output binding extra: couldn't find output binding extra",
                        "\(answer.status) \(answer.body)")
                let metadata = try await h.request(.GET, "/v1.0/metadata").json?["components"] as? [[String: Any]] ?? []
                #expect(Set(metadata.compactMap { $0["name"] as? String }).isSuperset(of: ["source"]) && !metadata.contains { $0["name"] as? String == "extra" },
                        "the metadata lists what is loaded: \(metadata)")
                await load.value

                // Every acknowledged write reaches the flag app and the App, each in its own group.
                func numbers(_ s: TestSubscriber, _ paths: Set<String>) -> [Int] {
                    s.requests.filter { paths.contains($0.path) }.compactMap { $0.json?["n"] as? Int }
                }
                let all = Set(0..<total), paths: Set<String> = ["/source", "/source-v2"]
                let until = Date().addingTimeInterval(90)
                while (!all.isSubset(of: numbers(h.subscriber!, paths)) || !all.isSubset(of: numbers(orders, paths))) && Date() < until {
                    try await Task.sleep(for: .milliseconds(200))
                }
                let flag = numbers(h.subscriber!, paths), own = numbers(orders, paths)
                print("binding reload (\(kind)): \(published.current) written (\(failed.current) answered other than 2xx, then retried); "
                      + "flag app \(Set(flag).count)/\(total) (\(flag.count - Set(flag).count) duplicates), "
                      + "App \(Set(own).count)/\(total) (\(own.count - Set(own).count) duplicates)")
                #expect(failed.current == 0, "every write answered 2xx through the reloads: \(failed.current) did not")
                let missingFlag = all.subtracting(flag).count, missingOwn = all.subtracting(own).count
                #expect(missingFlag == 0, "flag app missing \(all.subtracting(flag).sorted().prefix(10))")
                #expect(missingOwn == 0, "App missing \(all.subtracting(own).sorted().prefix(10))")
                #expect(numbers(h.subscriber!, ["/source-v2"]).count > 0 && numbers(orders, ["/source-v2"]).count > 0, "the new route is used")
            }
        } catch {
            await orders.stop()
            await sink.stop()
            throw error
        }
        await orders.stop()
        await sink.stop()
    }
}
