import BrokerKit
import CloudEvents
import Hummingbird

/// The queue-length feed (a Courier extension; Dapr has no such API): what an autoscaler such as
/// KEDA's `metrics-api` scaler reads to size a consumer group.
///
/// `GET /v1.0-alpha1/backlog/{pubsubname}/{topic}[?consumerGroup=G]` answers
/// `{"pubsubname","topic","consumerGroup","undelivered","inFlight","total"}`; the group defaults to the
/// component's (its `consumerGroup` or `consumerID`, else the app id).
extension SidecarRouter {
    func backlog(_ request: Request, pubsub: String, topic: String) async -> Response {
        do throws(DaprError) {
            let target = try publisher.target(pubsub: pubsub, topic: topic)
            let group = request.uri.queryParameters.get("consumerGroup").flatMap { $0.isEmpty ? nil : $0 } ?? target.consumerGroup
            let backlog: Backlog
            do {
                backlog = try await target.broker.backlog(topic: topic, group: group)
            } catch {
                throw DaprError.backlogFailed(topic: topic, pubsub: pubsub, error: error.description)
            }
            let body: JSONValue = .object([
                "pubsubname": .string(pubsub), "topic": .string(topic), "consumerGroup": .string(group),
                "undelivered": .number(String(backlog.undelivered)), "inFlight": .number(String(backlog.inFlight)),
                "total": .number(String(backlog.total)),
            ])
            return JSONResponse.make(status: .ok, body: JSONWriter.serialize(body))
        } catch {
            return error.response
        }
    }

    /// `GET /v1.0-alpha1/bindings/{name}/backlog`: messages waiting at an input binding's source.
    func bindingBacklog(name: String) async -> Response {
        guard let bindings, bindings.input(named: name) != nil else {
            return DaprError(status: .notFound, errorCode: "ERR_BINDING_NOT_FOUND", message: "input binding \(name) is not loaded").response
        }
        guard let backlog = await bindings.backlog(name) else {
            return DaprError(status: .internalServerError, errorCode: "ERR_BACKLOG",
                             message: "the source of input binding \(name) cannot report its backlog").response
        }
        let body: JSONValue = .object([
            "binding": .string(name), "undelivered": .number(String(backlog.undelivered)),
            "inFlight": .number(String(backlog.inFlight)), "total": .number(String(backlog.total)),
        ])
        return JSONResponse.make(status: .ok, body: JSONWriter.serialize(body))
    }
}
