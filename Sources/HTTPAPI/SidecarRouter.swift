import Bindings
import BrokerKit
import CloudEvents
import DeadLetters
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Resources

/// Builds the Dapr-compatible HTTP API: publish, bulk publish, bindings, metadata, health,
/// shutdown (spec §1, §2, §9.1, §12).
public struct SidecarRouter: Sendable {
    public let publisher: Publisher
    public let state: SidecarState
    /// The tokens callers present; none required when empty.
    public let tokens: CallerTokens
    public let maxBodyBytes: Int
    /// Output bindings; `nil` when none are loaded.
    public let bindings: BindingHub?
    /// Dead-letter inspect and redrive; `nil`: not served.
    public let deadLetters: DeadLetterDesk?

    public init(publisher: Publisher, state: SidecarState, tokens: CallerTokens, maxBodyBytes: Int, bindings: BindingHub? = nil,
                deadLetters: DeadLetterDesk? = nil) {
        self.publisher = publisher
        self.state = state
        self.tokens = tokens
        self.maxBodyBytes = maxBodyBytes
        self.bindings = bindings
        self.deadLetters = deadLetters
    }

    public func build() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RouteFallbackMiddleware())
        router.add(middleware: APITokenMiddleware(tokens: tokens))

        for method in [HTTPRequest.Method.post, .put] {
            router.on("/v1.0/publish/:pubsub/**", method: method) { request, context in
                await self.publish(request, pubsub: context.parameters.get("pubsub") ?? "", topic: Self.catchAll(context))
            }
            router.on("/v1.0/publish/:pubsub", method: method) { request, context in
                await self.publish(request, pubsub: context.parameters.get("pubsub") ?? "", topic: "")
            }
            router.on("/v1.0/publish", method: method) { request, _ in
                await self.publish(request, pubsub: "", topic: "")
            }
            for prefix in ["/v1.0-alpha1/publish/bulk", "/v1.0/publish/bulk"] {
                router.on("\(prefix)/:pubsub/**", method: method) { request, context in
                    await self.publishBulk(request, pubsub: context.parameters.get("pubsub") ?? "", topic: Self.catchAll(context))
                }
                router.on("\(prefix)/:pubsub", method: method) { request, context in
                    await self.publishBulk(request, pubsub: context.parameters.get("pubsub") ?? "", topic: "")
                }
            }
            router.on("/v1.0/bindings/:name", method: method) { request, context in
                await self.invokeBinding(request, name: context.parameters.get("name") ?? "")
            }
        }
        router.get("/v1.0-alpha1/backlog/:pubsub/**") { request, context in
            await self.backlog(request, pubsub: context.parameters.get("pubsub") ?? "", topic: Self.catchAll(context))
        }
        router.get("/v1.0-alpha1/bindings/:name/backlog") { _, context in
            await self.bindingBacklog(name: context.parameters.get("name") ?? "")
        }
        if let deadLetters { deadLetterRoutes(router, desk: deadLetters) }
        router.get("/v1.0-alpha1/apps") { _, _ in
            JSONResponse.make(status: .ok, body: AppStatus.document(await self.state.apps()))
        }
        router.get("/v1.0/healthz") { request, _ in self.healthz(request) }
        router.get("/v1.0/healthz/outbound") { _, _ in Response(status: .noContent) }
        router.get("/v1.0/metadata") { _, _ in
            JSONResponse.make(status: .ok, body: JSONWriter.serialize(MetadataDocument.build(self.state)))
        }
        router.put("/v1.0/metadata/:key") { request, context in
            var request = request
            let key = context.parameters.get("key") ?? ""
            guard let body = try? await request.collectBody(upTo: SidecarState.maxExtendedValueBytes) else {
                return DaprError(status: .badRequest, errorCode: "ERR_METADATA_VALUE_TOO_LARGE",
                                 message: "metadata value exceeds \(SidecarState.maxExtendedValueBytes) bytes").response
            }
            guard key.utf8.count <= SidecarState.maxExtendedKeyBytes else {
                return DaprError(status: .badRequest, errorCode: "ERR_METADATA_KEY_TOO_LARGE",
                                 message: "metadata key exceeds \(SidecarState.maxExtendedKeyBytes) bytes").response
            }
            guard self.state.setExtended(key, String(buffer: body)) else {
                return DaprError(status: .badRequest, errorCode: "ERR_METADATA_TOO_MANY_KEYS",
                                 message: "at most \(SidecarState.maxExtendedKeys) extended metadata keys may be set").response
            }
            return Response(status: .noContent)
        }
        router.post("/v1.0/shutdown") { request, _ in
            let force = request.headers[HTTPField.Name("dapr-force-shutdown")!]?.lowercased() == "true"
            self.state.requestShutdown(force: force)
            return Response(status: .noContent)
        }
        return router
    }

    static func catchAll(_ context: BasicRequestContext) -> String {
        context.parameters.getCatchAll().joined(separator: "/")
    }

    /// `metadata.*` query parameters, prefix removed, first value kept.
    static func queryMetadata(_ request: Request) -> [String: String] {
        queryMetadata(request.uri)
    }

    static func queryMetadata(_ uri: URI) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in uri.queryParameters where key.hasPrefix("metadata.") {
            let name = String(key.dropFirst("metadata.".count))
            if out[name] == nil { out[name] = String(value) }
        }
        return out
    }

    /// The request's span as a child, or a new trace when it carried no valid `traceparent`
    /// (as Dapr starts one), so every published event has trace ids.
    static func trace(_ request: Request) -> TraceContext? {
        trace(request.headers)
    }

    static func trace(_ headers: HTTPFields) -> TraceContext? {
        guard let tp = headers[HTTPField.Name("traceparent")!],
              let ctx = TraceContext(traceparent: tp, traceState: headers[HTTPField.Name("tracestate")!] ?? "") else {
            return TraceContext.newRoot()
        }
        return ctx.child()
    }

    func readBody(_ request: Request) async throws(DaprError) -> [UInt8] {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw .bodyTooLarge(maxBodyBytes)
        } catch {
            // Broken framing (bad chunk sizes, missing CRLF) or a connection that ended mid-body.
            throw DaprError(status: .badRequest, errorCode: "ERR_MALFORMED_REQUEST", message: "failed reading the request body: \(error)")
        }
    }

    func publish(_ request: Request, pubsub: String, topic: String) async -> Response {
        do throws(DaprError) {
            let body = try await readBody(request)
            try await publisher.publish(pubsub: pubsub, topic: topic, body: body, contentType: request.headers[.contentType],
                                        metadata: Self.queryMetadata(request), trace: Self.trace(request))
            return Response(status: .noContent)
        } catch {
            return error.response
        }
    }

    func publishBulk(_ request: Request, pubsub: String, topic: String) async -> Response {
        do throws(DaprError) {
            let body = try await readBody(request)
            let failed = try await publisher.publishBulk(pubsub: pubsub, topic: topic, body: body,
                                                         metadata: Self.queryMetadata(request), trace: Self.trace(request))
            guard !failed.isEmpty else { return Response(status: .noContent) }
            let entries: [JSONValue] = failed.map { f in
                var o: [String: JSONValue] = ["entryId": .string(f.entryID)]
                if !f.error.isEmpty { o["error"] = .string(f.error) }
                return .object(o)
            }
            let json = JSONWriter.serialize(.object(["failedEntries": .array(entries), "errorCode": .string("ERR_PUBSUB_PUBLISH_MESSAGE")]))
            var headers = HTTPFields()
            headers[HTTPField.Name("metadata.responseData")!] = String(decoding: json, as: UTF8.self)
            headers[HTTPField.Name("metadata.error")!] = failed.map(\.error).joined(separator: "; ")
            return JSONResponse.make(status: .internalServerError, body: json, headers: headers)
        } catch {
            return error.response
        }
    }

    /// `POST|PUT /v1.0/bindings/{name}` (spec §9.1): `{data, metadata, operation}`, `data`
    /// re-serialised as Dapr does, 200 with the component's bytes or 204, response metadata as
    /// `metadata.<key>` headers (also on errors).
    func invokeBinding(_ request: Request, name: String) async -> Response {
        let body: [UInt8]
        do throws(DaprError) {
            body = try await readBody(request)
        } catch {
            return error.response
        }
        let parsed: BindingRequest
        do throws(DaprError) {
            parsed = try Self.bindingRequest(body)
        } catch {
            return error.response
        }
        var invocation = parsed
        if let trace = Self.trace(request) {
            invocation.metadata["traceparent"] = trace.traceparent
            if !trace.traceState.isEmpty { invocation.metadata["tracestate"] = trace.traceState }
        }
        do throws(BindingHub.Failure) {
            guard let bindings else { throw .notFound(name) }
            let response = try await bindings.invoke(name, invocation, caller: CallerTokens.callerAppID)
            var headers = Self.metadataHeaders(response.metadata)
            guard let data = response.data else { return Response(status: .noContent, headers: headers) }
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            var response = DaprError(status: .internalServerError, errorCode: "ERR_INVOKE_OUTPUT_BINDING",
                                     message: "error invoking output binding \(name): \(error.detail)").response
            for field in Self.metadataHeaders(error.metadata) { response.headers.append(field) }
            return response
        }
    }

    /// The JSON body of an output binding call; field names match case-insensitively.
    static func bindingRequest(_ body: [UInt8]) throws(DaprError) -> BindingRequest {
        func malformed(_ detail: String) -> DaprError {
            DaprError(status: .badRequest, errorCode: "ERR_MALFORMED_REQUEST", message: "failed deserializing HTTP body: \(detail)")
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw malformed(error.description)
        }
        guard case .object(let fields) = value else { throw malformed("the body is not a JSON object") }
        func field(_ name: String) -> JSONValue? { fields.first { $0.key.lowercased() == name }?.value }
        var metadata: [String: String] = [:]
        switch field("metadata") {
        case nil, .null?: break
        case .object(let items)?:
            for (k, v) in items {
                guard case .string(let s) = v else { throw malformed("metadata value of '\(k)' is not a string") }
                metadata[k] = s
            }
        default: throw malformed("metadata is not an object of strings")
        }
        let operation: String
        switch field("operation") {
        case nil, .null?: operation = ""
        case .string(let s)?: operation = s
        default: throw malformed("operation is not a string")
        }
        return BindingRequest(operation: operation, data: GoJSON.marshal(field("data") ?? .null), metadata: metadata)
    }

    /// `metadata.<key>` response headers; values that cannot be a header value are left out.
    static func metadataHeaders(_ metadata: [String: String]) -> HTTPFields {
        var headers = HTTPFields()
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            guard let name = HTTPField.Name("metadata.\(key)"), !value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) else { continue }
            headers.append(HTTPField(name: name, value: value))
        }
        return headers
    }

    func healthz(_ request: Request) -> Response {
        if let asked = request.uri.queryParameters["appid"], String(asked) != state.appID {
            return DaprError(status: .internalServerError, errorCode: "ERR_HEALTH_APPID_NOT_MATCH",
                             message: "dapr app-id does not match").response
        }
        guard state.appReady() else {
            return DaprError(status: .internalServerError, errorCode: "ERR_HEALTH_NOT_READY", message: "dapr is not ready: [app channel]").response
        }
        return Response(status: .noContent)
    }
}

/// Requires `dapr-api-token` on every request except the health endpoints (spec §0).
struct APITokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let tokens: CallerTokens

    /// Without tokens configured, nothing to check. Otherwise health is exempt; any other request
    /// needs a known token, and runs as its caller.
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if !tokens.required || request.method == .get && (path == "/v1.0/healthz" || path == "/v1.0/healthz/outbound") {
            return try await next(request, context)
        }
        guard let caller = tokens.caller(presenting: request.headers[HTTPField.Name("dapr-api-token")!] ?? "") else {
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .unauthorized, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "invalid api token")))
        }
        return try await CallerTokens.$callerAppID.withValue(caller.appID) { try await next(request, context) }
    }
}

/// The API token check shared by the HTTP and gRPC APIs.
public enum APITokenCheck {
    /// Compares without returning early, so the time taken does not tell how much of a guess was right.
    public static func matches(_ sent: String, _ token: String) -> Bool {
        let x = Array(sent.utf8), y = Array(token.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0 && x.count == y.count
    }
}
