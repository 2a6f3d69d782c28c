import BrokerKit
import DaprProto
import GRPCCore
import HTTPAPI

/// KEDA's external scaler (`externalscaler.ExternalScaler`) on the gRPC port, over the same
/// backlog as `GET /v1.0-alpha1/backlog/...` and the `courier_pubsub_backlog` gauge.
/// `scalerMetadata`: `pubsubName`, `topic` (required), `consumerGroup` (default the component's
/// group, i.e. the app id), `targetBacklog` (default 10), `activationBacklog` (default 0; active
/// means backlog > activationBacklog). Not behind `DAPR_API_TOKEN`: KEDA cannot send it.
struct ExternalScalerService: Externalscaler_ExternalScaler.SimpleServiceProtocol {
    let publisher: Publisher
    /// How often `StreamIsActive` looks at the backlog (it pushes only changes).
    let streamInterval: Duration

    struct Query {
        var pubsub: String
        var topic: String
        var group: String
        var target: Double
        var activation: Int64
        var metricName: String { "courier-backlog-\(pubsub)-\(topic)" }
    }

    func query(_ ref: Externalscaler_ScaledObjectRef) throws -> (Query, Publisher.Target) {
        let md = ref.scalerMetadata
        guard let pubsub = md["pubsubName"], !pubsub.isEmpty, let topic = md["topic"], !topic.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "scalerMetadata needs pubsubName and topic")
        }
        let target: Publisher.Target
        do throws(DaprError) {
            target = try publisher.target(pubsub: pubsub, topic: topic)
        } catch {
            throw error.grpcStatus
        }
        guard let targetBacklog = Double(md["targetBacklog"] ?? "10"), targetBacklog > 0, targetBacklog.isFinite else {
            throw RPCError(code: .invalidArgument, message: "targetBacklog must be a positive number")
        }
        guard let activation = Int64(md["activationBacklog"] ?? "0"), activation >= 0 else {
            throw RPCError(code: .invalidArgument, message: "activationBacklog must be a non-negative integer")
        }
        let group = md["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 } ?? target.consumerGroup
        return (Query(pubsub: pubsub, topic: topic, group: group, target: targetBacklog, activation: activation), target)
    }

    func backlog(_ q: Query, _ target: Publisher.Target) async throws -> Int64 {
        do {
            return try await target.broker.backlog(topic: q.topic, group: q.group).total
        } catch {
            throw RPCError(code: .unavailable, message: "backlog of \(q.pubsub)/\(q.topic) for group \(q.group): \(error)")
        }
    }

    func isActive(request: Externalscaler_ScaledObjectRef, context: ServerContext) async throws -> Externalscaler_IsActiveResponse {
        let (q, target) = try query(request)
        var response = Externalscaler_IsActiveResponse()
        response.result = try await backlog(q, target) > q.activation
        return response
    }

    func streamIsActive(request: Externalscaler_ScaledObjectRef, response: RPCWriter<Externalscaler_IsActiveResponse>,
                        context: ServerContext) async throws {
        let (q, target) = try query(request)
        var last: Bool?
        while !Task.isCancelled {
            let active = try await backlog(q, target) > q.activation
            if active != last {
                var message = Externalscaler_IsActiveResponse()
                message.result = active
                try await response.write(message)
                last = active
            }
            try await Task.sleep(for: streamInterval)
        }
    }

    func getMetricSpec(request: Externalscaler_ScaledObjectRef, context: ServerContext) async throws -> Externalscaler_GetMetricSpecResponse {
        let (q, _) = try query(request)
        var spec = Externalscaler_MetricSpec()
        spec.metricName = q.metricName
        spec.targetSize = Int64(q.target.rounded(.up))
        spec.targetSizeFloat = q.target
        var response = Externalscaler_GetMetricSpecResponse()
        response.metricSpecs = [spec]
        return response
    }

    func getMetrics(request: Externalscaler_GetMetricsRequest, context: ServerContext) async throws -> Externalscaler_GetMetricsResponse {
        let (q, target) = try query(request.scaledObjectRef)
        let total = try await backlog(q, target)
        var value = Externalscaler_MetricValue()
        value.metricName = request.metricName.isEmpty ? q.metricName : request.metricName
        value.metricValue = total
        value.metricValueFloat = Double(total)
        var response = Externalscaler_GetMetricsResponse()
        response.metricValues = [value]
        return response
    }
}
