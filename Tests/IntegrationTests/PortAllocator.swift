#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Free loopback ports for test servers.
enum PortAllocator {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port no other test of this process was given.
    static func free() throws -> Int {
        for _ in 0..<50 {
            let port = try candidate()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw TestFailure("cannot allocate a fresh port")
    }

    private static func candidate() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw TestFailure("cannot allocate a port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func waitUntilListening(_ port: Int, timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isListening(port) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("nothing listens on port \(port)")
    }
}
