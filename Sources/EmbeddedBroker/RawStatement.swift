import GRDB
import GRDBSQLite

/// The two hot statements of the log (append, read) driven through SQLite's C API on a statement
/// GRDB prepared and caches: bytes are bound in place and read straight into `[UInt8]`, where
/// GRDB's `StatementArguments` and `Row` would box each value and copy each blob through `Data`.
/// Used only inside one `db.write`/`db.read` closure; the caller resets the statement before and after use.
struct RawStatement {
    private let handle: OpaquePointer
    private let db: Database

    init(_ handle: OpaquePointer, _ db: Database) {
        self.handle = handle
        self.db = db
    }

    /// SQLite copies the value during the bind call (the Swift string's bytes are temporary).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, text: String) {
        _ = text.withCString { sqlite3_bind_text(handle, index, $0, -1, Self.transient) }
    }

    func bind(_ index: Int32, int: Int64) {
        sqlite3_bind_int64(handle, index, int)
    }

    func bind(_ index: Int32, double: Double) {
        sqlite3_bind_double(handle, index, double)
    }

    /// Binds `bytes` (NULL when nil) without copying them while `body` runs; `body` must step the
    /// statement (SQLite reads the bytes during the step). The statement is reset and its
    /// bindings cleared before the bytes go away, so SQLite never holds a pointer to freed memory
    /// (a bind after a step, without a reset, would be refused with SQLITE_MISUSE).
    func withBlob<T>(_ index: Int32, _ bytes: [UInt8]?, _ body: () throws -> T) rethrows -> T {
        guard let bytes else {
            sqlite3_bind_null(handle, index)
            defer { reset() }
            return try body()
        }
        return try bytes.withUnsafeBytes { buffer in
            if let start = buffer.baseAddress, buffer.count > 0 {
                sqlite3_bind_blob(handle, index, start, Int32(buffer.count), nil)  // static: not copied
            } else {
                sqlite3_bind_zeroblob(handle, index, 0)  // empty, still a blob (not NULL)
            }
            defer { reset() }
            return try body()
        }
    }

    /// Steps a statement that returns no rows.
    func stepDone() throws {
        let rc = sqlite3_step(handle)
        guard rc == SQLITE_DONE else { throw failure(rc) }
    }

    /// Steps to the next row; false when there are no more.
    func stepRow() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw failure(rc)
        }
    }

    func int(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    /// The column's bytes, nil for NULL.
    func blob(_ column: Int32) -> [UInt8]? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        // SQLite's documented order: the pointer first, then its length.
        let start = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let start, count > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    }

    private func failure(_ rc: Int32) -> DatabaseError {
        let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
        return DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: sqlite3_sql(handle).map { String(cString: $0) })
    }
}
