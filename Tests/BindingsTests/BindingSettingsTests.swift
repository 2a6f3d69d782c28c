@testable import Bindings
import Resources
import Testing

@Suite struct BindingSettingsTests {
    func settings(_ pairs: [String: String], name: String = "orders") throws(ResourceProblem) -> BindingSettings {
        try BindingSettings(component: Component(name: name, type: "bindings.kafka", metadata: ComponentMetadata(pairs)))
    }

    @Test func defaults() throws {
        let s = try settings([:])
        #expect(s.route == "/orders")
        #expect(s.directions == nil && s.inputAllowed && s.outputAllowed && !s.readsWithoutProbe)
        #expect(s.maxConcurrency == 1)
        #expect(s.forwardTo.isEmpty)
    }

    @Test func directionRouteAndBridge() throws {
        let s = try settings(["direction": "Input, output", "route": "onevent", "maxConcurrency": "8"])
        #expect(s.directions == ["input", "output"] && s.readsWithoutProbe)
        #expect(s.route == "/onevent")
        #expect(s.maxConcurrency == 8)
        let out = try settings(["direction": "output"])
        #expect(!out.inputAllowed && out.outputAllowed)
        let bridge = try settings(["forwardTo": "kafka-out, http-out"])
        #expect(bridge.forwardTo == ["kafka-out", "http-out"] && bridge.readsWithoutProbe)
    }

    @Test(arguments: [["direction": "sideways"], ["maxConcurrency": "0"], ["maxConcurrency": "x"], ["forwardTo": "orders"]])
    func badSettingsAreProblems(_ pairs: [String: String]) {
        #expect(throws: ResourceProblem.self) { try settings(pairs) }
    }

    @Test func forwardedMetadataDropsInstructions() {
        let md = InputBindingRunner.forwardedMetadata(["__topic": "t", "topic": "x", "key": "k", "Authorization": "secret", "mqttTopic": "a/b"])
        #expect(md == ["__topic": "t", "mqttTopic": "a/b"])
    }
}
