import Resources
import Testing

@Suite struct ByteSizeTests {
    @Test func binaryAndDecimalSuffixes() {
        #expect(ByteSize.parse("4Mi") == 4 << 20)
        #expect(ByteSize.parse("512Ki") == 512 << 10)
        #expect(ByteSize.parse("1Gi") == 1 << 30)
        #expect(ByteSize.parse("100k") == 100_000)
        #expect(ByteSize.parse("2M") == 2_000_000)
        #expect(ByteSize.parse("3G") == 3_000_000_000)
        #expect(ByteSize.parse("1000") == 1000)
        #expect(ByteSize.parse("0") == 0)
    }

    @Test func notASizeOrTooLarge() {
        for text in ["", "Mi", "4MB", "4 Mi", "4mi", "1.5Mi", "x", "9223372036854775807Ki"] {
            #expect(ByteSize.parse(text) == nil, "\(text)")
        }
        #expect(ByteSize.parse("-1") == -1)  // a number; callers refuse sizes that are not positive
    }
}
