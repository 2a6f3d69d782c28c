#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Hands freed heap back to the operating system after large, short-lived allocations (bulk
/// publish bodies and their parsed entries). glibc keeps freed memory in its arenas, so without
/// this a burst of big requests leaves the process at its peak size for good. Requests coalesce:
/// one `malloc_trim` runs on its own thread (never on the cooperative pool) shortly after the
/// last one asked.
public final class MemoryRelease: Sendable {
    public static let shared = MemoryRelease()
    private let scheduled = Mutex(false)

    /// glibc's `malloc_trim` (not in the Glibc module map), looked up once; nil elsewhere.
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()

    public func soon() {
        guard let trim = Self.trim else { return }
        let start = scheduled.withLock { s -> Bool in
            if s { return false }
            s = true
            return true
        }
        guard start else { return }
        Thread {
            Thread.sleep(forTimeInterval: 0.2)
            self.scheduled.withLock { $0 = false }
            _ = trim(0)
        }.start()
    }
}
