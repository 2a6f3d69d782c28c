import CloudEvents
import Foundation

/// A `bindings.cron` schedule as Dapr's cron library reads it: six fields starting with seconds
/// (`*/5 * * * * *`), an optional `CRON_TZ=<IANA zone>` prefix, the descriptors `@yearly`,
/// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, and `@every <Go duration>`.
public struct CronSchedule: Sendable, Equatable {
    /// A problem in the schedule text.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    enum Kind: Sendable, Equatable {
        /// Allowed values per field: seconds, minutes, hours, day of month, month, day of week.
        case fields(second: Set<Int>, minute: Set<Int>, hour: Set<Int>, dom: Set<Int>, month: Set<Int>, dow: Set<Int>,
                    domStar: Bool, dowStar: Bool)
        case every(seconds: Double)
    }

    let kind: Kind
    public let timeZone: TimeZone
    /// The zone as written after `CRON_TZ=` (`UTC` without one).
    public let zoneName: String

    public init(_ text: String) throws(Invalid) {
        var spec = text.trimmingSpaces
        var zone = TimeZone(identifier: "UTC")!
        var zoneName = "UTC"
        for prefix in ["CRON_TZ=", "TZ="] where spec.hasPrefix(prefix) {
            guard let space = spec.firstIndex(of: " ") else { throw Invalid(description: "schedule '\(text)' has a time zone but no schedule") }
            let name = String(spec[spec.index(spec.startIndex, offsetBy: prefix.count)..<space])
            guard let tz = TimeZone(identifier: name) else { throw Invalid(description: "unknown time zone '\(name)'") }
            zone = tz
            zoneName = name
            spec = String(spec[space...]).trimmingSpaces
        }
        timeZone = zone
        self.zoneName = zoneName
        if spec.hasPrefix("@every ") {
            let duration = String(spec.dropFirst("@every ".count)).trimmingSpaces
            guard let seconds = GoDuration.parseSeconds(duration), seconds >= 1 else {
                throw Invalid(description: "@every needs a duration of at least 1s, not '\(duration)'")
            }
            kind = .every(seconds: seconds.rounded(.down))
            return
        }
        let descriptors = ["@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
                           "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *"]
        if spec.hasPrefix("@") {
            guard let expanded = descriptors[spec] else { throw Invalid(description: "unknown descriptor '\(spec)'") }
            spec = expanded
        }
        let parts = spec.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 6 else {
            throw Invalid(description: "schedule '\(text)' must have 6 fields (second minute hour day-of-month month day-of-week), found \(parts.count)")
        }
        let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        var dow = try Self.field(parts[5], 0...7, names: days, base: 0, label: "day-of-week")
        if dow.remove(7) != nil { dow.insert(0) }  // 7 is Sunday too
        kind = .fields(second: try Self.field(parts[0], 0...59, label: "second"),
                       minute: try Self.field(parts[1], 0...59, label: "minute"),
                       hour: try Self.field(parts[2], 0...23, label: "hour"),
                       dom: try Self.field(parts[3], 1...31, label: "day-of-month"),
                       month: try Self.field(parts[4], 1...12, names: months, base: 1, label: "month"),
                       dow: dow, domStar: parts[3] == "*" || parts[3] == "?", dowStar: parts[5] == "*" || parts[5] == "?")
    }

    /// Values of one field: `*`, `?`, `n`, `a-b`, `*/s`, `a-b/s`, `a/s`, and comma lists of those.
    static func field(_ text: String, _ range: ClosedRange<Int>, names: [String] = [], base: Int = 0, label: String) throws(Invalid) -> Set<Int> {
        func value(_ s: Substring) throws(Invalid) -> Int {
            if let i = names.firstIndex(of: s.uppercased()) { return i + base }
            guard let n = Int(s), range.contains(n) else { throw Invalid(description: "\(label) value '\(s)' is outside \(range.lowerBound)-\(range.upperBound)") }
            return n
        }
        var out: Set<Int> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw Invalid(description: "empty \(label) list item in '\(text)'") }
            let stepParts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]), s > 0, s <= range.count else { throw Invalid(description: "\(label) step '\(stepParts[1])' is not valid") }
                step = s
            }
            let body = stepParts[0]
            let low: Int, high: Int
            if body == "*" || body == "?" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = body.firstIndex(of: "-") {
                low = try value(body[..<dash])
                high = try value(body[body.index(after: dash)...])
                guard low <= high else { throw Invalid(description: "\(label) range '\(body)' runs backwards") }
            } else {
                low = try value(body)
                high = stepParts.count == 2 ? range.upperBound : low
            }
            out.formUnion(Swift.stride(from: low, through: high, by: step))
        }
        return out
    }

    /// The first firing time strictly after `date` (whole seconds), or `nil` if none within five years.
    public func next(after date: Date) -> Date? {
        switch kind {
        case .every(let seconds):
            return Date(timeIntervalSince1970: (date.timeIntervalSince1970 + seconds).rounded(.down))
        case .fields(let second, let minute, let hour, let dom, let month, let dow, let domStar, let dowStar):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            var t = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down) + 1)
            let limit = t.addingTimeInterval(5 * 366 * 86_400)
            func dayMatches(_ c: DateComponents) -> Bool {
                let d = dom.contains(c.day!), w = dow.contains(c.weekday! - 1)
                return domStar || dowStar ? d && w : d || w
            }
            while t < limit {
                let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: t)
                if !month.contains(c.month!) {
                    t = calendar.date(from: DateComponents(year: c.year, month: c.month! + 1, day: 1))!
                } else if !dayMatches(c) {
                    t = calendar.startOfDay(for: calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: t))!)
                } else if !hour.contains(c.hour!) {
                    t = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: c.hour! + 1))!
                } else if !minute.contains(c.minute!) {
                    t = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: c.hour, minute: c.minute! + 1))!
                } else if !second.contains(c.second!) {
                    t = t.addingTimeInterval(1)
                } else {
                    return t
                }
            }
            return nil
        }
    }
}
