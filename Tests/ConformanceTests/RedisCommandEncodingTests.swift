@testable import RedisBroker
import Testing

/// Commands go to hiredis already in RESP; the conformance cases prove them against a real
/// server, this pins the bytes (binary-safe lengths, empty arguments).
@Suite struct RedisCommandEncodingTests {
    @Test func argumentsAreLengthPrefixedAndBinarySafe() {
        let args: [[UInt8]] = [Array("XADD".utf8), Array("t".utf8), [], [0x0D, 0x0A, 0x00, 0xFF]]
        let expected = Array("*4\r\n$4\r\nXADD\r\n$1\r\nt\r\n$0\r\n\r\n$4\r\n".utf8) + [0x0D, 0x0A, 0x00, 0xFF] + [0x0D, 0x0A]
        #expect(RedisConnection.encode(args) == expected)
    }
}
