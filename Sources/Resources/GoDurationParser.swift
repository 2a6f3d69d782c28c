import CloudEvents

/// Resources parse durations with the same rules as the publish path.
enum GoDurationParser {
    static func seconds(_ text: String) -> Double? { GoDuration.parseSeconds(text) }
}
