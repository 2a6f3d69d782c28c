#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An exclusive `flock` on `<store>.lock`, so two processes (or two clients in one, while a
/// reload replaces one) never serve one embedded store. Released by `release()` or at deinit.
final class StoreLock: Sendable {
    private let fd: Mutex<Int32>

    init(path: String) throws(BrokerErrorBox) {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BrokerErrorBox(message: "cannot open \(lockPath): errno \(errno)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw BrokerErrorBox(message: "the embedded store \(path) is in use by another Courier process")
        }
        self.fd = Mutex(fd)
    }

    /// Lets another client open the store (after this one closed it).
    func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

struct BrokerErrorBox: Error { var message: String }
