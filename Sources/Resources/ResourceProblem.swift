/// A place in a resource file.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

/// A problem found while loading resources, printed as `file:line: message`.
public struct ResourceProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    /// Warnings are reported but do not fail loading.
    public var isWarning: Bool

    public init(_ location: SourceLocation, _ message: String, isWarning: Bool = false) {
        self.location = location
        self.message = message
        self.isWarning = isWarning
    }

    public var description: String { "\(location): \(isWarning ? "warning: " : "")\(message)" }
}
