import AsyncHTTPClient
import BrokerKit
import CloudEvents
import Foundation
import NIOCore
import NIOHTTP1
import Resources

/// `bindings.http`: calls `url` (+ the call's `path`) with the operation as the method (`create`
/// is POST). Metadata keys that start with a capital letter become request headers; the answer's
/// status and headers come back as response metadata (`statusCode`, `status`, each header), also
/// on errors. A status of 300 or more is an error unless `errorIfNot2XX` is false (component or
/// call); 5xx, 408 and 429 are retriable under the outbound policy.
public final class HTTPBinding: OutputBinding {
    let url: String
    let client: HTTPClient
    let errorIfNot2XX: Bool
    let timeout: Double
    let maxResponseBytes: Int
    let securityToken: (header: String, value: String)?

    public init(component: Component, client: HTTPClient) throws(BrokerError) {
        let r = OptionReader(component)
        guard let url = r.string("url"), let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? "") else {
            throw r.fail("url is required (http://host:port/path)")
        }
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.client = client
        errorIfNot2XX = try r.bool("errorIfNot2XX") ?? true
        timeout = try r.seconds("responseTimeout") ?? 60
        if let size = r.string("maxResponseBodySize") {
            guard let bytes = ByteSize.parse(size), bytes > 0 else { throw r.fail("maxResponseBodySize must be a size such as 100Mi, not '\(size)'") }
            maxResponseBytes = bytes
        } else {
            maxResponseBytes = 100 << 20
        }
        if let token = r.string("securityToken") {
            guard let header = r.string("securityTokenHeader") else { throw r.fail("securityTokenHeader is required with securityToken") }
            securityToken = (header, token)
        } else {
            securityToken = nil
        }
        for key in ["MTLSRootCA", "MTLSClientCert", "MTLSClientKey"] where r.string(key) != nil {
            throw r.fail("\(key) (mutual TLS) is not supported by this build")
        }
    }

    public static func validate(_ component: Component) throws(BrokerError) {
        let r = OptionReader(component)
        guard let url = r.string("url"), let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? "") else {
            throw r.fail("url is required (http://host:port/path)")
        }
        _ = try r.bool("errorIfNot2XX")
        _ = try r.seconds("responseTimeout")
    }

    public var operations: [String] { ["create", "get", "head", "post", "put", "patch", "delete", "options", "trace"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        let method: HTTPMethod
        switch request.operation {
        case "create", "post": method = .POST
        case "get": method = .GET
        case "head": method = .HEAD
        case "put": method = .PUT
        case "patch": method = .PATCH
        case "delete": method = .DELETE
        case "options": method = .OPTIONS
        case "trace": method = .TRACE
        default: throw BindingError("unsupported operation \(request.operation)", isRetriable: false)
        }
        var target = url
        if let path = request.metadata["path"], !path.isEmpty { target += path.hasPrefix("/") ? path : "/" + path }
        var http = HTTPClientRequest(url: target)
        http.method = method
        let hasBody = !request.data.isEmpty && method != .GET && method != .HEAD && method != .TRACE
        if hasBody {
            http.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            http.body = .bytes(ByteBuffer(bytes: request.data))
        }
        http.headers.add(name: "Accept", value: "application/json; charset=utf-8")
        if let securityToken { http.headers.replaceOrAdd(name: securityToken.header, value: securityToken.value) }
        for (key, value) in request.metadata where key.first?.isUppercase == true {
            http.headers.replaceOrAdd(name: key, value: value)
        }
        let errorIfNot2XX = request.metadata["errorIfNot2XX"].flatMap(GoBool.parse) ?? self.errorIfNot2XX
        let response: HTTPClientResponse
        var body = ByteBuffer()
        do {
            response = try await client.execute(http, timeout: .milliseconds(Int64(timeout * 1000)))
            for try await var chunk in response.body {
                guard body.readableBytes + chunk.readableBytes <= maxResponseBytes else {
                    throw BindingError("response body exceeds maxResponseBodySize (\(maxResponseBytes) bytes)", isRetriable: false)
                }
                body.writeBuffer(&chunk)
            }
        } catch let error as BindingError {
            throw error
        } catch {
            throw BindingError("calling \(target): \(error)")
        }
        var metadata: [String: String] = ["statusCode": String(response.status.code), "status": "\(response.status.code) \(response.status.reasonPhrase)"]
        for header in response.headers { metadata[header.name] = header.value }
        let code = Int(response.status.code)
        if errorIfNot2XX && code >= 300 {
            throw BindingError("received status code \(code)", metadata: metadata,
                               isRetriable: code >= 500 || code == 408 || code == 429, httpStatus: code)
        }
        return BindingResponse(data: Array(body.readableBytesView), metadata: metadata)
    }
}
