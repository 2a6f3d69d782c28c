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
