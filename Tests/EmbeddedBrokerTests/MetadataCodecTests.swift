import BrokerKit
import Foundation
import Testing

@Suite struct MetadataCodecTests {
    @Test func roundTripsAndReadsWhatJSONEncoderWrote() throws {
        let m = ["k": "v", "quote\"": "line\nbreak", "é": ""]
        #expect(MetadataCodec.decode(MetadataCodec.encode(m)) == m)
        #expect(MetadataCodec.decode(try JSONEncoder().encode(m)) == m, "stores written by earlier versions stay readable")
        #expect(MetadataCodec.decode(Array("not json".utf8)).isEmpty)
    }
}
