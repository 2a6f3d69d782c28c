#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// libmosquitto's network thread waits with `select()`, which cannot watch a descriptor numbered
/// 1024 (`FD_SETSIZE`) or above: a connection whose socket gets such a number never works, and
/// `FD_SET` on it writes past the set. A process serving many connections (Courier with a
/// thousand clients) runs into it. The kernel gives a new socket the lowest free number, so
/// Courier keeps a reserve of low numbers (open on /dev/null) from start-up and frees them just
/// before an MQTT client makes its socket pair and its socket; a closed client's numbers return to
/// the reserve.
public enum LowDescriptors {
    static let limit: Int32 = 1024
    static let size = 64
    private static let reserve = Mutex<[Int32]>([])

    /// Fills the reserve with numbers below 1024, as many as are free (call early, and after a
    /// client closed).
    public static func fill() {
        reserve.withLock { r in
            while r.count < size {
                let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { return }
                guard fd < limit else {
                    close(fd)
                    return
                }
                r.append(fd)
            }
        }
    }

    /// Frees the `count` lowest reserved numbers, for the descriptors about to be created.
    static func release(_ count: Int) {
        reserve.withLock { r in
            r.sort()
            for fd in r.prefix(count) { close(fd) }
            r.removeFirst(min(count, r.count))
        }
    }

    /// Whether libmosquitto's `select()` can watch `fd`.
    static func usable(_ fd: Int32) -> Bool { fd < limit }
}
