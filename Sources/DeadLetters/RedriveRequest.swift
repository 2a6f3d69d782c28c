import CloudEvents
import Routing

/// `POST /v1.0-alpha1/deadletters/{pubsub}/{topic}/redrive`'s body:
/// `{"filter": "<CEL>", "maxPerSecond": 100, "dryRun": false, "target": "subscription" | "topic"}`.
public struct RedriveRequest: Sendable {
    /// Where redriven events go: only the subscription that dead-lettered each one, or the
    /// original topic (every subscriber gets it again).
    public enum Target: String, Sendable { case subscription, topic }

    public var filter: CELProgram?
    public var maxPerSecond: Double
    public var dryRun: Bool
    public var target: Target

    public static let defaultRate = 100.0

    public init(filter: CELProgram? = nil, maxPerSecond: Double = defaultRate, dryRun: Bool = false, target: Target = .subscription) {
        self.filter = filter
        self.maxPerSecond = maxPerSecond
        self.dryRun = dryRun
        self.target = target
    }

    /// Parses a request body (empty: every event, to its subscription, at the default rate);
    /// throws a message for a 400 answer.
    public init(json body: [UInt8]) throws(Invalid) {
        self.init()
        guard !body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else { return }
        guard case .object(let object)? = try? JSONParser.parse(body) else { throw Invalid("the body is not a JSON object") }
        for (key, value) in object {
            switch key {
            case "filter":
                guard case .string(let source) = value else { throw Invalid("filter must be a string (a CEL expression)") }
                if !source.trimmingSpaces.isEmpty {
                    do throws(CELError) { filter = try CELProgram(source) } catch { throw Invalid("filter '\(source)': \(error)") }
                }
            case "maxPerSecond":
                guard let rate = value.doubleValue, rate > 0, rate.isFinite else { throw Invalid("maxPerSecond must be a number above 0") }
                maxPerSecond = rate
            case "dryRun":
                guard let flag = value.boolValue else { throw Invalid("dryRun must be true or false") }
                dryRun = flag
            case "target":
                guard let name = value.stringValue, let target = Target(rawValue: name) else {
                    throw Invalid("target must be \"subscription\" or \"topic\"")
                }
                self.target = target
            default:
                throw Invalid("unknown field '\(key)' (filter, maxPerSecond, dryRun, target)")
            }
        }
    }

    /// Why a request body was refused.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
