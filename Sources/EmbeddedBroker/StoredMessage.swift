/// A message as kept in the embedded log.
struct StoredMessage: Sendable {
    /// Global, strictly increasing sequence number (the SQLite rowid).
    var seq: Int64
    var topic: String
    var payload: [UInt8]
    var metadata: [String: String]
}
