import CloudEvents
import Resources
import Routing

/// Chooses the app path for an event from a subscription's rules: rules in order, first `true`
/// wins, the default route is the last rule (spec §4). Every CEL rule is compiled once here.
public struct RouteTable: Sendable {
    /// A rule that does not compile.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The outcome of routing one event.
    public enum Decision: Sendable, Equatable {
        case path(String)
        /// No rule matched and there is no default: ack and drop (dead-letter if set).
        case noMatch
        /// A rule failed to evaluate or did not yield a bool: handled like a parse failure.
        case error(String)
    }

    struct CompiledRule: Sendable {
        var program: CELProgram?
        var path: String
    }

    let rules: [CompiledRule]
    /// True when some rule needs the event decoded.
    let needsEvent: Bool

    public init(rules: [RouteRule]) throws(Invalid) {
        var compiled: [CompiledRule] = []
        for rule in rules {
            let match = rule.match.trimmingSpaces
            // As declared: HTTP delivery adds a leading "/" when it sends; a gRPC app looks its
            // handler up by this exact string (often empty or a bare function name).
            let path = rule.path
            if match.isEmpty {
                compiled.append(CompiledRule(program: nil, path: path))
                continue
            }
            do throws(CELError) {
                compiled.append(CompiledRule(program: try CELProgram(match), path: path))
            } catch {
                throw Invalid(description: "routing rule '\(match)': \(error)")
            }
        }
        self.rules = compiled
        self.needsEvent = compiled.contains { $0.program != nil }
    }

    /// Routes an event given as CloudEvent JSON bytes.
    public func route(envelope: [UInt8]) -> Decision {
        guard needsEvent else { return rules.first.map { .path($0.path) } ?? .noMatch }
        let event: CELValue
        do {
            event = CELValue(json: try JSONParser.parse(envelope))
        } catch {
            return .error("the event is not JSON: \(error)")
        }
        return route(event: event)
    }

    /// Routes a decoded event.
    public func route(event: CELValue) -> Decision {
        let variables = ["event": event]
        for rule in rules {
            guard let program = rule.program else { return .path(rule.path) }
            do throws(CELError) {
                if try program.evaluateBool(variables) { return .path(rule.path) }
            } catch {
                return .error("routing rule '\(program.source)' failed: \(error)")
            }
        }
        return .noMatch
    }
}
