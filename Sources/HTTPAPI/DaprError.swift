import CloudEvents
import Hummingbird

/// Dapr's error bodies (spec §1.3): the "kit" shape with `details`, or the older
/// `{errorCode, message}` shape.
public struct DaprError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var errorCode: String
    public var message: String
    /// ErrorInfo reason; `nil` gives the plain two-field body.
    public var reason: String?
    /// ResourceInfo (`pubsub`, name); left out for not-found and not-configured errors.
    public var resource: (type: String, name: String)?
    public var errorMetadata: [String: String]

    public init(status: HTTPResponse.Status, errorCode: String, message: String, reason: String? = nil,
                resource: (type: String, name: String)? = nil, metadata: [String: String] = [:]) {
        self.status = status
        self.errorCode = errorCode
        self.message = message
        self.reason = reason
        self.resource = resource
        self.errorMetadata = metadata
    }

    /// The JSON body.
    public var body: [UInt8] {
        var fields: [String: JSONValue] = ["errorCode": .string(errorCode), "message": .string(message)]
        if let reason {
            var details: [JSONValue] = []
            if let resource {
                details.append(.object([
                    "@type": .string("type.googleapis.com/google.rpc.ResourceInfo"),
                    "resource_type": .string(resource.type), "resource_name": .string(resource.name),
                    "owner": .string(""), "description": .string(message),
                ]))
            }
            details.append(.object([
                "@type": .string("type.googleapis.com/google.rpc.ErrorInfo"),
                "reason": .string(reason), "domain": .string("dapr.io"),
                "metadata": .object(errorMetadata.mapValues { .string($0) }),
            ]))
            fields["details"] = .array(details)
        }
        return JSONWriter.serialize(.object(fields))
    }

    /// The HTTP response.
    public var response: Response {
        JSONResponse.make(status: status, body: body)
    }
}

enum JSONResponse {
    static func make(status: HTTPResponse.Status, body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension DaprError {
    static func pubsubNotConfigured() -> DaprError {
        DaprError(status: .badRequest, errorCode: "ERR_PUBSUB_NOT_CONFIGURED", message: "no pubsub is configured",
                  reason: "DAPR_PUBSUB_NOT_CONFIGURED")
    }
    static func pubsubEmpty() -> DaprError {
        DaprError(status: .notFound, errorCode: "ERR_PUBSUB_EMPTY", message: "pubsub name is empty",
                  reason: "DAPR_PUBSUB_NAME_EMPTY", resource: ("pubsub", ""))
    }
    static func pubsubNotFound(_ name: String) -> DaprError {
        DaprError(status: .notFound, errorCode: "ERR_PUBSUB_NOT_FOUND", message: "pubsub \(name) is not found",
                  reason: "DAPR_PUBSUB_NOT_FOUND")
    }
    static func topicEmpty(_ pubsub: String) -> DaprError {
        DaprError(status: .notFound, errorCode: "ERR_TOPIC_NAME_EMPTY", message: "topic is empty in pubsub \(pubsub)",
                  reason: "DAPR_PUBSUB_TOPIC_NAME_EMPTY", resource: ("pubsub", pubsub))
    }
    static func badMetadata(_ pubsub: String, _ detail: String) -> DaprError {
        DaprError(status: .badRequest, errorCode: "ERR_PUBSUB_REQUEST_METADATA", message: "failed deserializing metadata: \(detail)",
                  reason: "DAPR_PUBSUB_METADATA_DESERIALIZATION", resource: ("pubsub", pubsub))
    }
    static func cloudEventCreation(_ pubsub: String, _ detail: String) -> DaprError {
        DaprError(status: .internalServerError, errorCode: "ERR_PUBSUB_CLOUD_EVENTS_SER", message: "cannot create the CloudEvent: \(detail)",
                  reason: "DAPR_PUBSUB_CLOUD_EVENT_CREATION", resource: ("pubsub", pubsub))
    }
    static func eventsSerialization(_ pubsub: String, _ detail: String, reason: String = "DAPR_PUBSUB_MARSHAL_EVENTS") -> DaprError {
        DaprError(status: .badRequest, errorCode: "ERR_PUBSUB_EVENTS_SER", message: detail, reason: reason, resource: ("pubsub", pubsub))
    }
    static func forbidden(topic: String, appID: String, pubsub: String) -> DaprError {
        DaprError(status: .forbidden, errorCode: "ERR_PUBSUB_FORBIDDEN", message: "topic \(topic) is not allowed for app id \(appID)",
                  reason: "DAPR_PUBSUB_FORBIDDEN", resource: ("pubsub", pubsub), metadata: ["topic": topic])
    }
    static func publishFailed(topic: String, pubsub: String, error: String) -> DaprError {
        DaprError(status: .internalServerError, errorCode: "ERR_PUBSUB_PUBLISH_MESSAGE",
                  message: "error when publishing to topic \(topic) in pubsub \(pubsub): \(error)",
                  reason: "DAPR_PUBSUB_PUBLISH_MESSAGE", resource: ("pubsub", pubsub), metadata: ["topic": topic, "error": error])
    }
    static func backlogFailed(topic: String, pubsub: String, error: String) -> DaprError {
        DaprError(status: .internalServerError, errorCode: "ERR_PUBSUB_BACKLOG",
                  message: "error when reading the backlog of topic \(topic) in pubsub \(pubsub): \(error)",
                  reason: "COURIER_PUBSUB_BACKLOG", resource: ("pubsub", pubsub), metadata: ["topic": topic, "error": error])
    }
    static func bodyTooLarge(_ limit: Int) -> DaprError {
        DaprError(status: .contentTooLarge, errorCode: "ERR_MALFORMED_REQUEST", message: "request body exceeds the limit of \(limit) bytes (--max-body-size)")
    }
}
