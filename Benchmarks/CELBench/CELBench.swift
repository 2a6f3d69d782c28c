import CloudEvents
import Foundation
import Routing

/// Evaluations per second of a typical routing rule on a realistic CloudEvent, beside a
/// hand-written Swift closure doing the same three checks on the same decoded event (the
/// baseline, in the same process), and compile time per rule.
@main
struct CELBench {
    static func main() throws {
        let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 2 : 2
        let rule = #"event.type == "order.created" && event.data.total > 100.0 && event.source.startsWith("shop/")"#
        let json = #"""
            {"specversion":"1.0","id":"4f3c2a1e-1111-4222-8333-944445555666","source":"shop/eu-west","type":"order.created",
             "time":"2026-11-22T10:00:00Z","datacontenttype":"application/json","pubsubname":"pubsub","topic":"orders",
             "traceid":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"",
             "data":{"orderId":"A-1001","customer":{"id":"c-42","tier":"gold"},"total":149.95,"currency":"EUR",
                     "items":[{"sku":"widget","qty":2,"price":49.99},{"sku":"gadget","qty":1,"price":49.97}]}}
            """#
        let event = CELValue(json: try JSONParser.parse(json))
        let program = try CELProgram(rule)
        let vars = ["event": event]

        func measure(_ body: () -> Bool) -> Double {
            var n = 0
            var hits = 0
            let start = Date()
            while true {
                for _ in 0..<10_000 where body() { hits += 1 }
                n += 10_000
                let elapsed = Date().timeIntervalSince(start)
                if elapsed >= seconds { precondition(hits == n, "the rule must match"); return Double(n) / elapsed }
            }
        }
        let cel = measure { (try? program.evaluateBool(vars)) ?? false }
        let native = measure {
            guard case .map(let m) = event, case .string(let type)? = m[.string("type")], type == "order.created",
                  case .map(let data)? = m[.string("data")], case .double(let total)? = data[.string("total")], total > 100,
                  case .string(let source)? = m[.string("source")] else { return false }
            return source.hasPrefix("shop/")
        }
        let compileStart = Date()
        let compiles = 20_000
        for _ in 0..<compiles { _ = try CELProgram(rule) }
        let compileMicros = Date().timeIntervalSince(compileStart) / Double(compiles) * 1e6
        print("| CEL rule evaluations (one core) | \(Int(cel)) /s | native Swift closure \(Int(native)) /s | \(String(format: "%.2f", cel / native)) |")
        print("| CEL rule compile time | \(String(format: "%.1f", compileMicros)) µs per rule | | |")
    }
}
