@testable import CloudEvents
import Testing

/// The parser skips string content eight bytes at a time; these pin the word test to the
/// byte-by-byte rule and strings whose special byte sits at every offset of a word.
struct JSONStringScanTests {
    static func special(_ b: UInt8) -> Bool { b == 0x22 || b == 0x5C || b < 0x20 }

    @Test func theWordTestAgreesWithTheByteRule() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200_000 {
            var bytes = (0..<8).map { _ in UInt8.random(in: 0x20...0xFF, using: &rng) }
            if round % 2 == 0 { bytes[Int.random(in: 0..<8, using: &rng)] = [0x00, 0x1F, 0x22, 0x5C, 0x7F, 0x80, 0xFF, 0x21, 0x5B][round / 2 % 9] }
            let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(JSONParser.hasSpecialByte(word) == bytes.contains(where: Self.special))
        }
    }

    @Test func specialBytesAtEveryOffsetAreSeen() throws {
        for length in 0..<40 {
            for offset in 0..<length {
                var content = Array(repeating: UInt8(ascii: "x"), count: length)
                content[offset] = 0x01  // a raw control character: invalid JSON
                #expect(!JSONParser.isValid([0x22] + content + [0x22]))
                content[offset] = 0x22  // an inner quote ends the string early: trailing data
                #expect(!JSONParser.isValid([0x22] + content + [0x22]))
                content[offset] = 0x5C  // a backslash escapes the next byte (x): invalid escape
                #expect(!JSONParser.isValid([0x22] + content + [0x22]))
            }
            let plain = [0x22] + Array(repeating: UInt8(ascii: "y"), count: length) + [0x22]
            #expect(JSONParser.isValid(plain))
            #expect(try JSONParser.parse(plain) == .string(String(repeating: "y", count: length)))
            let escaped = Array("\"\(String(repeating: "z", count: length))\\n\(String(repeating: "é", count: length))\"".utf8)
            #expect(try JSONParser.parse(escaped) == .string(String(repeating: "z", count: length) + "\n" + String(repeating: "é", count: length)))
        }
    }
}
