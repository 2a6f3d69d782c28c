import BrokerKit
import CloudEvents
import NIOCore

/// Why an event went to a dead-letter topic, as the extension attributes it carries there: a
/// CloudEvent gains them as attributes, a raw payload as broker metadata of the same names.
/// Everything else in the event (id, data, trace context) stays as it was.
public struct DeadLetterRecord: Sendable, Equatable {
    /// `deadletterreason`.
    public enum Reason: String, Sendable, CaseIterable {
        /// The app kept failing it until the retry policy gave up.
        case maxretries
        /// The app answered DROP.
        case drop
        /// The app answered 404 (no such route).
        case notfound
        /// Its `expiration` passed before it was delivered.
        case expired
        /// No routing rule matched it.
        case unroutable
        /// It is not a CloudEvent.
        case unparseable
        /// A routing rule (or an ordering key) could not be evaluated on it.
        case ruleerror
        /// The app's last attempt did not answer within the timeout.
        case timeout
    }

    public static let maxErrorBytes = 1024

    public var reason: Reason
    /// Delivery attempts, counting those of earlier rounds (an event redriven and failed again).
    public var attempts: Int
    /// The app's last HTTP status or gRPC code, when it answered.
    public var status: String?
    /// The app's last answer body or the error, at most `maxErrorBytes`.
    public var error: String?
    public var app: String
    public var route: String?
    public var pubsub: String
    /// The topic it was delivered from.
    public var topic: String
    /// When it was dead-lettered (RFC 3339).
    public var time: String

    public init(reason: Reason, attempts: Int, status: String? = nil, error: String? = nil, app: String, route: String?,
                pubsub: String, topic: String, time: String = RFC3339.now()) {
        self.reason = reason
        self.attempts = attempts
        self.status = status
        self.error = error.map { Self.truncated($0) }
        self.app = app
        self.route = route
        self.pubsub = pubsub
        self.topic = topic
        self.time = time
    }

    /// The attribute names, all of which a new record replaces.
    public static let names = ["deadletterreason", "deadletterattempts", "deadletterstatus", "deadlettererror", "deadletterapp",
                               "deadletterroute", "deadletterpubsub", "deadlettertopic", "deadlettertime"]

    /// The attributes as strings (broker metadata for a raw payload).
    public var metadata: [String: String] {
        var out = ["deadletterreason": reason.rawValue, "deadletterattempts": String(attempts), "deadletterapp": app,
                   "deadletterpubsub": pubsub, "deadlettertopic": topic, "deadlettertime": time]
        if let status { out["deadletterstatus"] = status }
        if let error { out["deadlettererror"] = error }
        if let route { out["deadletterroute"] = route }
        return out
    }

    /// `event` (a CloudEvent in JSON) with these attributes in place of any earlier ones; `nil`
    /// when it is not a JSON object.
    public func annotate(_ event: [UInt8]) -> [UInt8]? {
        guard case .object(var object)? = try? JSONParser.parse(event) else { return nil }
        for name in Self.names { object[name] = nil }
        for (name, value) in metadata { object[name] = name == "deadletterattempts" ? .number(String(attempts)) : .string(value) }
        return JSONWriter.serialize(.object(object))
    }

    /// The dead letter of an event as published to `topic`: a CloudEvent annotated with these
    /// attributes, or (`raw`, or not a JSON object) its bytes with them as metadata. A new
    /// message of the same event, so it has a deduplication id of its own (JetStream would
    /// drop it as a duplicate of the CloudEvent id).
    public func message(topic: String, payload: [UInt8], metadata: [String: String], raw: Bool) -> BrokerMessage {
        var payload = payload, metadata = metadata
        if !raw, let annotated = annotate(payload) {
            payload = annotated
        } else {
            metadata.merge(self.metadata) { _, new in new }
        }
        return BrokerMessage(topic: topic, payload: payload, contentType: raw ? nil : ContentType.cloudEventsJSON, metadata: metadata,
                             deduplicationID: "\(EventID.uuid())/dead/\(attempts)")
    }

    /// The attempts an earlier record counted (an event redriven from a dead-letter topic): its
    /// CloudEvent attribute, else its broker metadata; 0 for a first failure.
    public static func earlierAttempts(event: [UInt8]?, metadata: [String: String]) -> Int {
        if let event, case .object(let object)? = try? JSONParser.parse(event), let value = object["deadletterattempts"] {
            switch value {
            case .number(let n): return Int(n) ?? Int(Double(n) ?? 0)
            case .string(let s): return Int(s) ?? 0
            default: return 0
            }
        }
        return metadata["deadletterattempts"].flatMap { Int($0) } ?? 0
    }

    /// `text` cut to at most `maxErrorBytes` of UTF-8 on a character boundary.
    static func truncated(_ text: String) -> String {
        guard text.utf8.count > maxErrorBytes else { return text }
        var out = ""
        var bytes = 0
        for c in text {
            let n = String(c).utf8.count
            if bytes + n > maxErrorBytes { break }
            out.append(c)
            bytes += n
        }
        return out
    }
}

/// What the app last answered to a delivery attempt, kept for a dead-letter record (cheap to
/// keep: the strings are made only when a record is).
public struct AppAnswer: Sendable {
    /// The HTTP status or gRPC code (its name), when the app answered.
    public var httpStatus: Int?
    public var grpcCode: String?
    /// The answer's body.
    public var body: ByteBuffer?
    /// The error, when there was no answer (or a gRPC error).
    public var error: String?
    /// The attempt ran out of time.
    public var timedOut: Bool

    public init(httpStatus: Int? = nil, grpcCode: String? = nil, body: ByteBuffer? = nil, error: String? = nil, timedOut: Bool = false) {
        self.httpStatus = httpStatus
        self.grpcCode = grpcCode
        self.body = body
        self.error = error
        self.timedOut = timedOut
    }

    /// An HTTP answer.
    init(http response: AppChannel.Response) {
        self.init(httpStatus: response.status, body: response.body)
    }

    /// `deadletterstatus`.
    public var status: String? { httpStatus.map { String($0) } ?? grpcCode }

    /// `deadlettererror`: the body's start, else the error.
    public var detail: String? {
        if let body, body.readableBytes > 0 {
            return body.getString(at: body.readerIndex, length: min(body.readableBytes, DeadLetterRecord.maxErrorBytes))
        }
        return error
    }
}
