import BrokerKit
import Foundation
import Testing

/// Helpers for the per-adapter option tests.
enum AdapterTest {
    /// The environment variable that names a broker's server, or `nil` after recording why it cannot
    /// run (a skip, or a failure when scripts/test requires every broker).
    static func server(_ variable: String) -> String? {
        if let v = ProcessInfo.processInfo.environment[variable], !v.isEmpty { return v }
        if BrokerFixture.brokersRequired { Issue.record("\(variable) is required but not set") }
        else { print("skipping: \(variable) is not set (scripts/brokers start; eval \"$(scripts/brokers env)\")") }
        return nil
    }

    static func topic(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

    /// Payloads of what arrives within `seconds` (acknowledging each), stopping early at `max`.
    static func collect(_ stream: DeliveryStream, max: Int, within seconds: Double,
                        settle: @escaping @Sendable (Delivery) async throws -> Void = { try await $0.ack() }) async throws -> [String] {
        let timer = Task {
            try await Task.sleep(for: .seconds(seconds))
            await stream.stop()
        }
        defer { timer.cancel() }
        var got: [String] = []
        var it = stream.makeAsyncIterator()
        while got.count < max, let d = try await it.next() {
            got.append(String(decoding: d.payload, as: UTF8.self))
            try await settle(d)
        }
        return got
    }
}
