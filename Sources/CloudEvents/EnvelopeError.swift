/// Why a publish body could not become a CloudEvent envelope.
public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body claimed `application/cloudevents+json` but is not a JSON object.
    case invalidCloudEvent(String)

    public var description: String {
        switch self {
        case .invalidCloudEvent(let why): return "cannot parse the CloudEvent: \(why)"
        }
    }
}
