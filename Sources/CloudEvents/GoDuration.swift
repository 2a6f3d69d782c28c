/// Go's `time.ParseDuration` syntax (`300ms`, `1.5h`, `2h45m`), used throughout Dapr resources
/// and by `ttlInSeconds` values.
public enum GoDuration {
    /// The longest duration Go can represent (`math.MaxInt64` nanoseconds), in seconds.
    public static let maxSeconds = 9_223_372_036.854775807

    /// Parses a Go duration into seconds; `nil` when the text is not one or, as in Go, when it
    /// does not fit in 64-bit nanoseconds.
    public static func parseSeconds(_ text: String) -> Double? {
        var s = Substring(text.trimmingSpaces)
        guard !s.isEmpty else { return nil }
        var sign = 1.0
        if s.first == "-" || s.first == "+" {
            if s.first == "-" { sign = -1 }
            s = s.dropFirst()
        }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        var total = 0.0
        while !s.isEmpty {
            let numberText = s.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !numberText.isEmpty, let value = Double(numberText) else { return nil }
            s = s.dropFirst(numberText.count)
            let unitText = s.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            s = s.dropFirst(unitText.count)
            let unit: Double
            switch unitText {
            case "ns": unit = 1e-9
            case "us", "µs", "μs": unit = 1e-6
            case "ms": unit = 1e-3
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            default: return nil
            }
            total += value * unit
            guard total.isFinite, total <= maxSeconds else { return nil }
        }
        return sign * total
    }

    /// Formats seconds the way Go prints a duration for common values (`5s`, `500ms`, `1m30s`).
    public static func format(seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) <= maxSeconds else { return seconds < 0 ? "-2562047h47m16.854775807s" : "2562047h47m16.854775807s" }
        if seconds < 0 { return "-" + format(seconds: -seconds) }
        if seconds == 0 { return "0s" }
        if seconds < 1 {
            let ms = seconds * 1000
            return ms == ms.rounded() ? "\(Int(ms))ms" : "\(ms)ms"
        }
        var rest = seconds
        var out = ""
        let hours = Int(rest / 3600)
        if hours > 0 { out += "\(hours)h"; rest -= Double(hours * 3600) }
        let minutes = Int(rest / 60)
        if minutes > 0 || hours > 0 { out += "\(minutes)m"; rest -= Double(minutes * 60) }
        out += rest == rest.rounded() ? "\(Int(rest))s" : "\(rest)s"
        return out
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
