#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<store>.lock`, so two processes never serve one embedded store.
final class StoreLock: Sendable {
    private let fd: Int32

    init(path: String) throws(BrokerErrorBox) {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BrokerErrorBox(message: "cannot open \(lockPath): errno \(errno)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw BrokerErrorBox(message: "the embedded store \(path) is in use by another Courier process")
        }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

struct BrokerErrorBox: Error { var message: String }
