@testable import EmbeddedBroker
import Foundation
import Testing

/// The log's append and read, which bind and read bytes through SQLite's C API directly.
@Suite struct LogStoreTests {
    @Test(arguments: [false, true]) func bytesRoundTripExactly(onDisk: Bool) async throws {
        let path = onDisk ? EmbeddedBrokerTests.tempPath() : nil
        if let path { try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true) }
        let store = try LogStore(path: path, synchronousFull: true)
        let binary = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // every byte value, NULs included
        let seqs = try await store.append([
            (topic: "t", payload: binary, metadata: ["traceparent": "00-abc-def-01", "k": ""]),
            (topic: "other", payload: [1, 2, 3], metadata: [:]),
            (topic: "t", payload: [], metadata: [:]),  // empty: a zero-length blob, not NULL (the column is NOT NULL)
            (topic: "tópic/ü", payload: Array("x".utf8), metadata: ["ü": "é"]),
        ], now: 1)
        #expect(seqs.count == 4 && zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 })

        let t = try await store.read(topic: "t", from: 0, limit: 10)
        #expect(t.map(\.seq) == [seqs[0], seqs[2]])
        #expect(t[0].payload == binary && t[0].metadata == ["traceparent": "00-abc-def-01", "k": ""])
        #expect(t[1].payload == [] && t[1].metadata == [:])
        #expect(try await store.read(topic: "t", from: seqs[0] + 1, limit: 10).map(\.seq) == [seqs[2]])
        #expect(try await store.read(topic: "t", from: 0, limit: 1).map(\.seq) == [seqs[0]])
        let unicode = try await store.read(topic: "tópic/ü", from: 0, limit: 10)
        #expect(unicode.count == 1 && unicode[0].metadata == ["ü": "é"] && unicode[0].topic == "tópic/ü")
        #expect(try await store.read(topic: "missing", from: 0, limit: 10).isEmpty)

        // The cached statements are reset after each use: a second round works the same.
        let more = try await store.append([(topic: "t", payload: [9], metadata: [:])], now: 2)
        #expect(try await store.read(topic: "t", from: seqs[2] + 1, limit: 10).map(\.payload) == [[9]])
        #expect(more[0] > seqs[3])
        try store.close()
    }
}
