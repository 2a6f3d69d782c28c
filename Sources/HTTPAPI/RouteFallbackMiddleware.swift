import CloudEvents
import HTTPTypes
import Hummingbird

/// Answers what the router does not match with Dapr's error shape instead of an empty body: a
/// known path with the wrong method is 405 with an `Allow` header, anything else 404
/// `ERR_NOT_FOUND` (Hummingbird's own answers have no body).
struct RouteFallbackMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            if let allowed = Self.allowedMethods(path), !allowed.contains(request.method) {
                var response = DaprError(status: .methodNotAllowed, errorCode: "ERR_METHOD_NOT_ALLOWED",
                                         message: "method \(request.method.rawValue) is not allowed on \(path)").response
                response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                return response
            }
            return DaprError(status: .notFound, errorCode: "ERR_NOT_FOUND", message: "no API at \(request.method.rawValue) \(path)").response
        }
    }

    /// The methods the API serves on `path`, or `nil` for a path it does not serve.
    static func allowedMethods(_ path: String) -> [HTTPRequest.Method]? {
        let p = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        if p.hasPrefix("/v1.0/publish") || p.hasPrefix("/v1.0-alpha1/publish/bulk") || p.hasPrefix("/v1.0/bindings/") { return [.post, .put] }
        if p == "/v1.0/healthz" || p == "/v1.0/healthz/outbound" || p == "/v1.0/metadata" || p.hasPrefix("/v1.0-alpha1/backlog/") { return [.get] }
        if p.hasPrefix("/v1.0-alpha1/bindings/") && p.hasSuffix("/backlog") { return [.get] }
        if p.hasPrefix("/v1.0/metadata/") { return [.put] }
        if p == "/v1.0/shutdown" { return [.post] }
        return nil
    }
}
