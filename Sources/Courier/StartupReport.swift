/// The human-readable summary printed when `courier run` starts.
public enum StartupReport {
    public static func text(_ runtime: CourierRuntime) -> String {
        let o = runtime.options
        var lines = ["Courier \(CourierRuntime.version) — app id '\(o.appID)'"]
        lines.append("  HTTP API     http://\(o.httpAddress):\(o.httpPort)  (Dapr pub/sub and bindings API)")
        lines.append("  metrics      http://\(o.httpAddress):\(o.metricsPort)/metrics")
        lines.append(o.grpcPort > 0 ? "  gRPC API     \(o.httpAddress):\(o.grpcPort)  (Dapr runtime: publish, bulk publish, bindings, metadata; KEDA external scaler)"
                                    : "  gRPC API     off (--dapr-grpc-port 0)")
        if let port = o.appPort {
            lines.append("  app channel  \(o.appProtocol)://\(o.appChannelAddress):\(port)")
        } else {
            lines.append("  app channel  none (no --app-port): publish only, nothing is delivered")
        }
        lines.append("  resources    \(o.resourcesPaths.joined(separator: ", "))\(o.configPath.map { ", config \($0)" } ?? "")")
        let components = runtime.resources.components
        lines.append("  components   \(components.isEmpty ? "none" : "")")
        for c in components {
            lines.append("    - \(c.name) (\(c.type)) from \(c.location)")
        }
        let subs = runtime.resources.subscriptions
        lines.append("  declarative subscriptions \(subs.isEmpty ? "none" : "")")
        for s in subs {
            lines.append("    - \(s.pubsubName)/\(s.topic) → \(s.rules.map(\.path).joined(separator: ", "))\(s.deadLetterTopic.map { " (dead letters: \($0))" } ?? "")")
        }
        if !runtime.resources.resiliencies.isEmpty {
            lines.append("  resiliency   \(runtime.resources.resiliencies.map(\.name).joined(separator: ", "))")
        }
        lines.append("  programmatic subscriptions are read from GET /dapr/subscribe once the app answers")
        return lines.joined(separator: "\n")
    }
}
