import CloudEvents
import Testing

struct TraceContextTests {
    @Test(arguments: [
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true),
        ("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", true),
        ("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future", true),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", false),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", false),
        ("00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01", false),
        ("00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01", false),
        ("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false),
        ("", false), ("zz", false),
    ])
    func parsesOnlyValidTraceparents(_ value: String, _ valid: Bool) {
        let context = TraceContext(traceparent: value, traceState: "k=v")
        #expect((context != nil) == valid, "\(value)")
        if let context {
            #expect(context.traceID == "0af7651916cd43dd8448eb211c80319c" && context.spanID == "b7ad6b7169203331" && context.flags == "01")
            #expect(context.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" && context.traceState == "k=v")
        }
    }

    @Test func childrenKeepTheTraceAndGetANewSpan() {
        let parent = TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")!
        let child = parent.child()
        #expect(child.traceID == parent.traceID && child.flags == parent.flags && child.spanID != parent.spanID)
        #expect(child.spanID.utf8.count == 16 && child.spanID.utf8.allSatisfy { "0123456789abcdef".utf8.contains($0) })
        let root = TraceContext.newRoot()
        #expect(root.traceID.utf8.count == 32 && TraceContext(traceparent: root.traceparent) == root)
    }
}

/// Event ids and trace ids come from `IdentifierRandom` (no system call each): they stay unique,
/// well formed, and spread over every hex digit.
struct IdentifierTests {
    @Test func eventIDsAreDistinctVersion4UUIDs() {
        var seen = Set<String>()
        for _ in 0..<100_000 {
            let id = EventID.uuid()
            let chars = Array(id.utf8)
            #expect(chars.count == 36 && chars[14] == UInt8(ascii: "4") && "89ab".utf8.contains(chars[19]))
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
    }

    @Test func traceIDsAreDistinctAndUseEveryDigit() {
        var traces = Set<String>(), spans = Set<String>(), digits = Set<Character>()
        for _ in 0..<20_000 {
            let root = TraceContext.newRoot()
            traces.insert(root.traceID)
            spans.insert(root.spanID)
            digits.formUnion(root.traceID)
            #expect(TraceContext(traceparent: root.traceparent) != nil)
        }
        #expect(traces.count == 20_000 && spans.count == 20_000 && digits.count == 16)
    }
}
