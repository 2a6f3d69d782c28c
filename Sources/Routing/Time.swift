import CloudEvents
import Foundation

/// Timestamps and durations: parsing, formatting, arithmetic and the `get*` accessors.
enum Time {
    static let minSeconds: Int64 = -62_135_596_800  // 0001-01-01T00:00:00Z
    static let maxSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z

    /// RFC 3339 with optional fraction (up to nanoseconds) and `Z` or `±HH:MM`.
    static func parseTimestamp(_ text: String) -> (Int64, Int32)? {
        let u = Array(text.utf8)
        guard u.count >= 20 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + len) {
                guard u[i] >= 0x30 && u[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(u[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), u[4] == 0x2D, let mo = num(5, 2), u[7] == 0x2D, let d = num(8, 2),
              u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"),
              let h = num(11, 2), u[13] == 0x3A, let mi = num(14, 2), u[16] == 0x3A, let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        var nanos: Int64 = 0
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 0x30 && u[i] <= 0x39 {
                if digits < 9 { nanos = nanos * 10 + Int64(u[i] - 0x30); digits += 1 }
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        guard i < u.count else { return nil }
        var offset: Int64 = 0
        if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") {
            i += 1
        } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            guard i + 6 == u.count, let oh = num(i + 1, 2), u[i + 3] == 0x3A, let om = num(i + 4, 2) else { return nil }
            offset = (u[i] == UInt8(ascii: "-") ? -1 : 1) * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        let secs = days(year: y, month: mo, day: d) * 86400 + h * 3600 + mi * 60 + s - offset
        guard secs >= minSeconds && secs <= maxSeconds else { return nil }
        return (secs, Int32(nanos))
    }

    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        Int64(RFC3339.daysFromCivil(year: Int(year), month: Int(month), day: Int(day)))
    }

    /// (year, month 1-12, day 1-31) of a day number.
    static func civil(_ z: Int64) -> (Int64, Int64, Int64) {
        let z = z + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func format(seconds: Int64, nanos: Int32) -> String {
        let day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - day * 86400
        let (y, m, d) = civil(day)
        func pad(_ v: Int64, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rest / 3600, 2)):\(pad(rest % 3600 / 60, 2)):\(pad(rest % 60, 2))"
        if nanos > 0 {
            var frac = pad(Int64(nanos), 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out + "Z"
    }

    /// Go/protobuf duration syntax (`1h30m`, `1.5s`, `-300ms`) into nanoseconds.
    static func parseDuration(_ text: String) -> Int64? {
        guard let seconds = GoDuration.parseSeconds(text), abs(seconds) < 9.2e9 else { return nil }
        return Int64((seconds * 1e9).rounded())
    }

    static func formatDuration(_ nanos: Int64) -> String {
        if nanos % 1_000_000_000 == 0 { return "\(nanos / 1_000_000_000)s" }
        var frac = String(abs(nanos % 1_000_000_000))
        frac = String(repeating: "0", count: 9 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(nanos < 0 ? "-" : "")\(abs(nanos / 1_000_000_000)).\(frac)s"
    }

    static func add(seconds: Int64, nanos: Int32, durationNanos: Int64, column: Int) throws(CELError) -> CELValue {
        var s = seconds + durationNanos / 1_000_000_000
        var n = Int64(nanos) + durationNanos % 1_000_000_000
        if n < 0 { n += 1_000_000_000; s -= 1 }
        if n >= 1_000_000_000 { n -= 1_000_000_000; s += 1 }
        guard s >= minSeconds && s <= maxSeconds else { throw CELError("timestamp overflow", column: column) }
        return .timestamp(seconds: s, nanos: Int32(n))
    }

    /// `getFullYear()` and friends; an optional argument is a time zone: `UTC`, `±HH:MM`, or an
    /// IANA name such as `Europe/Paris` (from the system's time zone database, with its daylight
    /// saving rules at that instant).
    static func accessor(_ name: String, _ a: [CELValue], column: Int) throws(CELError) -> CELValue {
        if case .duration(let n) = a[0], a.count == 1 {
            switch name {
            case "getHours": return .int(n / 3_600_000_000_000)
            case "getMinutes": return .int(n / 60_000_000_000)
            case "getSeconds": return .int(n / 1_000_000_000)
            case "getMilliseconds": return .int(n % 1_000_000_000 / 1_000_000)
            default: break
            }
        }
        guard case .timestamp(var secs, let nanos) = a[0] else {
            throw CELError("no matching overload for '\(name)' on '\(a[0].typeName)'", column: column)
        }
        if a.count == 2 {
            guard case .string(let zone) = a[1], let offset = zoneOffset(zone, at: secs) else {
                throw CELError("unknown time zone; use UTC, an offset such as +02:00 or an IANA name such as Europe/Paris", column: column)
            }
            secs += offset
        }
        let day = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rest = secs - day * 86400
        let (y, m, d) = civil(day)
        switch name {
        case "getFullYear": return .int(y)
        case "getMonth": return .int(m - 1)
        case "getDate": return .int(d)
        case "getDayOfMonth": return .int(d - 1)
        case "getDayOfWeek": return .int(((day % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
        case "getDayOfYear": return .int(day - days(year: y, month: 1, day: 1))
        case "getHours": return .int(rest / 3600)
        case "getMinutes": return .int(rest % 3600 / 60)
        case "getSeconds": return .int(rest % 60)
        case "getMilliseconds": return .int(Int64(nanos) / 1_000_000)
        default: throw CELError("no matching overload for '\(name)'", column: column)
        }
    }

    static func zoneOffset(_ zone: String, at secs: Int64) -> Int64? {
        if zone == "UTC" || zone == "Z" { return 0 }
        var u = Array(zone.utf8)
        // An offset without its sign ("02:00") is east of UTC, as cel-go reads it.
        if u.count == 5, u[2] == 0x3A, (0x30...0x39).contains(u[0]) { u.insert(UInt8(ascii: "+"), at: 0) }
        if u.first == UInt8(ascii: "+") || u.first == UInt8(ascii: "-") {
            guard u.count == 6, u[3] == 0x3A,
                  let h = Int64(String(decoding: u[1...2], as: UTF8.self)), let m = Int64(String(decoding: u[4...5], as: UTF8.self)) else { return nil }
            return (u[0] == UInt8(ascii: "-") ? -1 : 1) * (h * 3600 + m * 60)
        }
        guard u.contains(UInt8(ascii: "/")) || zone.allSatisfy({ $0.isLetter }), let tz = TimeZone(identifier: zone) else { return nil }
        return Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(secs))))
    }
}
