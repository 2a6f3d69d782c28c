import DaprProto
import GRPCCore
import HTTPAPI

/// Requires `dapr-api-token` request metadata equal to `DAPR_API_TOKEN` on the Dapr service;
/// a missing or wrong token is UNAUTHENTICATED. (KEDA's scaler service is exempt: KEDA cannot
/// send Dapr's token, as the health endpoints are exempt on HTTP.)
struct APITokenInterceptor: ServerInterceptor {
    let tokens: CallerTokens

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard tokens.required else { return try await next(request, context) }
        let sent = request.metadata[stringValues: "dapr-api-token"].first(where: { _ in true }) ?? ""
        guard let caller = tokens.caller(presenting: sent) else {
            throw RPCError(code: .unauthenticated, message: "authentication error: api token mismatch")
        }
        // Unary handlers run inside `next`, so they publish as the caller; a streaming
        // subscription's later messages run as the --app-id app.
        return try await CallerTokens.$callerAppID.withValue(caller.appID) { try await next(request, context) }
    }
}
