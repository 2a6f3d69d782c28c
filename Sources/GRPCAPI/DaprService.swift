import Bindings
import BrokerKit
import CloudEvents
import DaprProto
import GRPCCore
import GRPCProtobuf
import HTTPAPI
import Foundation
import SwiftProtobuf

/// `dapr.proto.runtime.v1.Dapr` on `--dapr-grpc-port`: the same publish, bulk publish, binding,
/// metadata and shutdown code paths as the HTTP API below the transport (spec §1.6, §13).
/// Methods Courier does not serve are answered UNIMPLEMENTED by the server.
struct DaprService: Dapr_Proto_Runtime_V1_Dapr.SimpleServiceProtocol {
    let publisher: Publisher
    let state: SidecarState
    let bindings: BindingHub?
    let streaming: StreamingSubscriptions

    func publishEvent(request: Dapr_Proto_Runtime_V1_PublishEventRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        // An empty data_content_type is text/plain, as in Dapr.
        let contentType = request.dataContentType.isEmpty ? "text/plain" : request.dataContentType
        do throws(DaprError) {
            try await publisher.publish(pubsub: request.pubsubName, topic: request.topic, body: [UInt8](request.data),
                                        contentType: contentType, metadata: request.metadata, trace: TraceContext.newRoot())
        } catch {
            throw error.grpcStatus
        }
        return Google_Protobuf_Empty()
    }

    func bulkPublishEventAlpha1(request: Dapr_Proto_Runtime_V1_BulkPublishRequest, context: ServerContext) async throws -> Dapr_Proto_Runtime_V1_BulkPublishResponse {
        try await bulkPublishEvent(request: request, context: context)
    }

    func bulkPublishEvent(request: Dapr_Proto_Runtime_V1_BulkPublishRequest, context: ServerContext) async throws -> Dapr_Proto_Runtime_V1_BulkPublishResponse {
        let entries = request.entries.map { e in
            Publisher.BulkEntry(id: e.entryID, payload: [UInt8](e.event), contentType: e.contentType.isEmpty ? "text/plain" : e.contentType,
                                metadata: e.metadata.isEmpty ? nil : e.metadata)
        }
        let failed: [Publisher.FailedEntry]
        do throws(DaprError) {
            failed = try await publisher.publishBulk(pubsub: request.pubsubName, topic: request.topic, entries: entries,
                                                     metadata: request.metadata, trace: TraceContext.newRoot())
        } catch {
            throw error.grpcStatus
        }
        var response = Dapr_Proto_Runtime_V1_BulkPublishResponse()
        response.failedEntries = failed.map { f in
            var entry = Dapr_Proto_Runtime_V1_BulkPublishResponseFailedEntry()
            entry.entryID = f.entryID
            entry.error = f.error
            return entry
        }
        return response
    }

    /// `data` passes through unchanged (no JSON re-serialisation, unlike the HTTP API).
    func invokeBinding(request: Dapr_Proto_Runtime_V1_InvokeBindingRequest, context: ServerContext) async throws -> Dapr_Proto_Runtime_V1_InvokeBindingResponse {
        do throws(BindingHub.Failure) {
            guard let bindings else { throw .notFound(request.name) }
            let result = try await bindings.invoke(request.name, BindingRequest(operation: request.operation, data: [UInt8](request.data),
                                                                                metadata: request.metadata),
                                                  caller: CallerTokens.callerAppID)
            var response = Dapr_Proto_Runtime_V1_InvokeBindingResponse()
            response.data = result.data.map { Data($0) } ?? Data()
            response.metadata = result.metadata
            return response
        } catch {
            throw GoogleRPCStatus(code: .internalError, message: "error invoking output binding \(request.name): \(error.detail)",
                                  details: .errorInfo(reason: "DAPR_BINDING_INVOKE", domain: "dapr.io", metadata: error.metadata))
        }
    }

    func getMetadata(request: Dapr_Proto_Runtime_V1_GetMetadataRequest, context: ServerContext) async throws -> Dapr_Proto_Runtime_V1_GetMetadataResponse {
        var response = Dapr_Proto_Runtime_V1_GetMetadataResponse()
        response.id = state.appID
        response.runtimeVersion = state.runtimeVersion
        response.registeredComponents = state.components.map { c in
            var r = Dapr_Proto_Runtime_V1_RegisteredComponents()
            r.name = c.name
            r.type = c.type
            r.version = c.version
            r.capabilities = c.capabilities
            return r
        }
        response.extendedMetadata = state.extendedMetadata
        response.subscriptions = state.subscriptions().map { s in
            var p = Dapr_Proto_Runtime_V1_PubsubSubscription()
            p.pubsubName = s.pubsubName
            p.topic = s.topic
            p.metadata = s.metadata
            p.deadLetterTopic = s.deadLetterTopic ?? ""
            p.rules.rules = s.rules.map { r in
                var rule = Dapr_Proto_Runtime_V1_PubsubSubscriptionRule()
                rule.match = r.match
                rule.path = r.path
                return rule
            }
            switch s.origin.rawValue {
            case "DECLARATIVE": p.type = .declarative
            case "PROGRAMMATIC": p.type = .programmatic
            case "STREAMING": p.type = .streaming
            default: p.type = .unknown
            }
            return p
        }
        var app = Dapr_Proto_Runtime_V1_AppConnectionProperties()
        app.port = Int32(clamping: state.appConnection.port ?? 0)
        app.protocol = state.appConnection.protocolName
        app.channelAddress = state.appConnection.channelAddress
        app.maxConcurrency = Int32(clamping: state.appConnection.maxConcurrency)
        response.appConnectionProperties = app
        return response
    }

    func setMetadata(request: Dapr_Proto_Runtime_V1_SetMetadataRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        guard request.key.utf8.count <= SidecarState.maxExtendedKeyBytes, request.value.utf8.count <= SidecarState.maxExtendedValueBytes,
              state.setExtended(request.key, request.value) else {
            throw RPCError(code: .invalidArgument, message: "metadata key or value too large, or more than \(SidecarState.maxExtendedKeys) keys")
        }
        return Google_Protobuf_Empty()
    }

    func shutdown(request: Dapr_Proto_Runtime_V1_ShutdownRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        state.requestShutdown(force: false)
        return Google_Protobuf_Empty()
    }
}
