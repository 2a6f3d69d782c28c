import GRPCCore
import GRPCProtobuf
import HTTPAPI

extension DaprError {
    /// The gRPC status Dapr answers for this error, with its ErrorInfo reason as a
    /// `google.rpc.Status` detail. An unknown or unnamed pubsub, an empty topic and bad metadata
    /// are INVALID_ARGUMENT (as in Dapr's gRPC API), a scoping refusal PERMISSION_DENIED, a broker
    /// that did not confirm INTERNAL.
    var grpcStatus: GoogleRPCStatus {
        let code: RPCError.Code
        switch status.code {
        case 400, 404, 413: code = .invalidArgument
        case 403: code = .permissionDenied
        case 401: code = .unauthenticated
        default: code = .internalError
        }
        var details: [ErrorDetails] = []
        if let reason { details.append(.errorInfo(reason: reason, domain: "dapr.io", metadata: errorMetadata)) }
        return GoogleRPCStatus(code: code, message: message, details: details)
    }
}
