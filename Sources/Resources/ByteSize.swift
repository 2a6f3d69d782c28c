/// Kubernetes-style sizes as Dapr's flags and component metadata write them: `4Mi`, `512Ki`,
/// `1Gi`, `100k`, `1M`, `1000`.
public enum ByteSize {
    /// The number of bytes, or nil when `text` is not a size or overflows `Int`.
    public static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let n = Int(text.dropLast(suffix.count)) else { return nil }
            let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : bytes
        }
        return Int(text)
    }
}
