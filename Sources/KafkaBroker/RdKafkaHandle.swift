import Foundation
import Synchronization
import BrokerKit
import CRdKafka

/// Builds librdkafka handles from configuration pairs; the one place that creates `rd_kafka_t`.
enum RdKafkaHandle {
    /// A new configuration object holding `properties`, or a configuration error naming the bad one.
    static func configuration(_ properties: [(String, String)]) throws(BrokerError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        ErrorEvents.routeLibraryLog(conf)
        var error = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            if rd_kafka_conf_set(conf, key, value, &error, error.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw BrokerError(.configuration, "kafka property \(key): \(RdKafkaHandle.text(error))")
            }
        }
        return conf
    }

    /// Creates a producer or consumer from `conf` (which it takes ownership of).
    static func make(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws(BrokerError) -> OpaquePointer {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &error, error.count) else {
            rd_kafka_conf_destroy(conf)
            throw BrokerError(.configuration, "kafka: \(RdKafkaHandle.text(error))")
        }
        return handle
    }

    /// The runtime library's version, e.g. "2.0.2".
    static var version: String { String(cString: rd_kafka_version_str()) }

    /// The NUL-terminated text librdkafka wrote into an error buffer.
    static func text(_ buffer: [CChar]) -> String { buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }

    static func describe(_ err: rd_kafka_resp_err_t) -> String { String(cString: rd_kafka_err2str(err)) }
}

/// A dedicated OS thread that runs `body` until stopped, then `finish`: the home of one
/// librdkafka handle's polling, so callbacks and blocking calls never run on the cooperative pool.
final class PollThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let done = Mutex<(finished: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Starts the thread. `body` is called repeatedly and should block briefly (a poll timeout).
    init(name: String, body: @escaping @Sendable () -> Void, finish: @escaping @Sendable () -> Void) {
        let thread = Thread {
            while !self.stopping.load(ordering: .acquiring) { body() }
            finish()
            let waiters = self.done.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }
        thread.name = name
        thread.start()
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Asks the loop to end and waits until `finish` has run.
    func stop() async {
        stopping.store(true, ordering: .releasing)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = done.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}
