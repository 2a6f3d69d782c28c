import CloudEvents
import DeadLetters
import HTTPTypes
import Hummingbird

/// Dead letters (a Courier extension):
/// - `GET /v1.0-alpha1/deadletters/{pubsub}/{topic}?limit=N&after=CURSOR` lists a dead-letter
///   topic's events, oldest first, without consuming anything;
/// - `POST …/redrive` starts a redrive (202 `{"id"}`); `GET …/redrive/{id}` is its progress;
///   `DELETE …/redrive/{id}` cancels it.
/// A broker that cannot list a topic answers 501.
extension SidecarRouter {
    func deadLetterRoutes(_ router: Router<BasicRequestContext>, desk: DeadLetterDesk) {
        router.get("/v1.0-alpha1/deadletters/:pubsub/**") { request, context in
            let (pubsub, path) = (context.parameters.get("pubsub") ?? "", Self.catchAll(context))
            if let (topic, id) = Self.redriveJob(path) {
                return Self.status(desk.job(id, pubsub: pubsub, topic: topic), id: id)
            }
            return await self.listDeadLetters(request, desk: desk, pubsub: pubsub, topic: path)
        }
        router.post("/v1.0-alpha1/deadletters/:pubsub/**") { request, context in
            let (pubsub, path) = (context.parameters.get("pubsub") ?? "", Self.catchAll(context))
            guard path.hasSuffix("/redrive"), path.count > "/redrive".count else {
                return DaprError(status: .notFound, errorCode: "ERR_NOT_FOUND", message: "POST …/{topic}/redrive starts a redrive").response
            }
            return await self.startRedrive(request, desk: desk, pubsub: pubsub, topic: String(path.dropLast("/redrive".count)))
        }
        router.delete("/v1.0-alpha1/deadletters/:pubsub/**") { _, context in
            guard let (topic, id) = Self.redriveJob(Self.catchAll(context)) else {
                return DaprError(status: .notFound, errorCode: "ERR_NOT_FOUND", message: "DELETE …/{topic}/redrive/{id} cancels a redrive").response
            }
            let job = desk.job(id, pubsub: context.parameters.get("pubsub") ?? "", topic: topic)
            job?.cancel()
            return Self.status(job, id: id)
        }
    }

    /// `{topic}/redrive/{id}` split, or `nil`.
    static func redriveJob(_ path: String) -> (topic: String, id: String)? {
        guard let range = path.range(of: "/redrive/", options: .backwards), range.lowerBound > path.startIndex else { return nil }
        let id = String(path[range.upperBound...])
        guard !id.isEmpty, !id.contains("/") else { return nil }
        return (String(path[..<range.lowerBound]), id)
    }

    static func status(_ job: RedriveJob?, id: String) -> Response {
        guard let job else {
            return DaprError(status: .notFound, errorCode: "ERR_REDRIVE_NOT_FOUND", message: "no redrive \(id) of this topic").response
        }
        return JSONResponse.make(status: .ok, body: JSONWriter.serialize(job.current.json))
    }

    func listDeadLetters(_ request: Request, desk: DeadLetterDesk, pubsub: String, topic: String) async -> Response {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query.get("limit") {
            guard let n = Int(text), n > 0, n <= DeadLetterDesk.maxPage else {
                return DaprError(status: .badRequest, errorCode: "ERR_MALFORMED_REQUEST",
                                 message: "limit must be a whole number from 1 to \(DeadLetterDesk.maxPage), not '\(text)'").response
            }
            limit = n
        }
        let after = query.get("after").flatMap { $0.isEmpty ? nil : $0 }
        do throws(DeadLetterDesk.Failure) {
            let page = try await desk.list(pubsub: pubsub, topic: topic, after: after, limit: limit)
            return JSONResponse.make(status: .ok, body: JSONWriter.serialize(page))
        } catch {
            return Self.response(error, pubsub: pubsub)
        }
    }

    func startRedrive(_ request: Request, desk: DeadLetterDesk, pubsub: String, topic: String) async -> Response {
        var request = request
        guard let body = try? await request.collectBody(upTo: 64 * 1024) else {
            return DaprError(status: .badRequest, errorCode: "ERR_MALFORMED_REQUEST", message: "the redrive request exceeds 64 KiB").response
        }
        let parsed: RedriveRequest
        do throws(RedriveRequest.Invalid) {
            parsed = try RedriveRequest(json: Array(buffer: body))
        } catch {
            return DaprError(status: .badRequest, errorCode: "ERR_MALFORMED_REQUEST", message: "redrive request: \(error)").response
        }
        do throws(DeadLetterDesk.Failure) {
            let id = try await desk.redrive(pubsub: pubsub, topic: topic, request: parsed)
            return JSONResponse.make(status: .accepted, body: JSONWriter.serialize(.object(["id": .string(id)])))
        } catch {
            return Self.response(error, pubsub: pubsub)
        }
    }

    static func response(_ failure: DeadLetterDesk.Failure, pubsub: String) -> Response {
        switch failure {
        case .pubsubNotFound: return DaprError.pubsubNotFound(pubsub).response
        case .unsupported(let why):
            return DaprError(status: .notImplemented, errorCode: "ERR_DEADLETTER_UNSUPPORTED", message: why).response
        case .failed(let why): return DaprError(status: .internalServerError, errorCode: "ERR_DEADLETTER_READ", message: why).response
        }
    }
}
