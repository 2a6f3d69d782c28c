import Foundation

/// Mutated raw HTTP/1.1 bytes over a plain socket (framing no HTTP client would send): the server
/// must answer or close, never hang, and never answer a 5xx.
enum RawFuzz {
    static let templates = [
        "POST /v1.0/publish/pubsub/fuzz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"n\":123}",
        "POST /v1.0/publish/pubsub/fuzz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"n\r\n4\r\n\":1}\r\n0\r\n\r\n",
        "GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "PUT /v1.0/metadata/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv",
        "POST /v1.0/publish/bulk/pubsub/fuzz-bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 52\r\n\r\n[{\"entryId\":\"1\",\"event\":1,\"contentType\":\"text/plain\"}]",
        "GET /v1.0/metadata HTTP/1.0\r\n\r\n",
        "GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    ]
    static let insertions = ["\r\n", "\n", "\0", " ", ":", "Content-Length: 99999999999999999999\r\n", "Transfer-Encoding: xchunked\r\n",
                             "Content-Length: -1\r\n", "\r\n\r\n", "ffffffffffffffffff\r\n", "Expect: 100-continue\r\n", "\u{7f}", "Host: y\r\n"]

    static func fuzz(port: Int, rng r: inout SplitMix) async -> String? {
        var bytes = Array(r.pick(templates).utf8)
        for _ in 0..<(1 + r.int(4)) {
            let at = r.int(bytes.count + 1)
            switch r.int(4) {
            case 0: bytes.insert(contentsOf: Array(r.pick(insertions).utf8), at: at)
            case 1: if at < bytes.count { bytes[at] = UInt8(truncatingIfNeeded: r.next()) }
            case 2: if at < bytes.count { bytes.removeSubrange(at..<min(bytes.count, at + 1 + r.int(8))) }
            default: bytes = Array(bytes.prefix(at))
            }
        }
        let payload = bytes
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: exchange(port: port, payload)) }.start()
        }
    }

    /// Sends, half-closes, reads until the server closes. A hang or a 5xx is a failure.
    static func exchange(port: Int, _ payload: [UInt8]) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "socket: \(errno)" }
        defer { close(fd) }
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { return "connect failed: \(errno)" }
        _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(fd, Int32(SHUT_WR))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 || (n < 0 && errno == ECONNRESET) { break }
            if n < 0 { return "no answer and not closed within 20 s for \(String(decoding: payload.prefix(120), as: UTF8.self).debugDescription)" }
            out.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: out, as: UTF8.self)
        for line in text.components(separatedBy: "\r\n") where line.hasPrefix("HTTP/1.") {
            let parts = line.split(separator: " ")
            if parts.count > 1, let status = Int(parts[1]), status >= 500 {
                return "raw request answered \(status): \(String(decoding: payload.prefix(160), as: UTF8.self).debugDescription) → \(text.prefix(200).debugDescription)"
            }
        }
        return nil
    }
}
