import CRdKafka
import Logging
import Synchronization

/// Receives a librdkafka handle's error callback (it runs on the handle's poll thread): logs it
/// and remembers the last one for health checks. Must outlive the handle it is installed on.
final class ErrorEvents: Sendable {
    let role: String
    let logger: Logger
    private let last = Mutex<String?>(nil)
    /// When a broker-down kind of error was last logged: those repeat while a broker is away.
    private let lastTransportLog = Mutex<ContinuousClock.Instant?>(nil)

    init(role: String, logger: Logger) {
        self.role = role
        self.logger = logger
    }

    /// Sets this object as `conf`'s opaque and registers the error callback.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
            guard let opaque else { return }
            Unmanaged<ErrorEvents>.fromOpaque(opaque).takeUnretainedValue().report(code, reason.map { String(cString: $0) } ?? "")
        }
    }

    /// Routes librdkafka's own log lines (stderr by default) to a logger at debug level; errors
    /// that matter also arrive through the error callback.
    static func routeLibraryLog(_ conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf) { _, level, facility, line in
            ErrorEvents.libraryLogger.debug("\(facility.map { String(cString: $0) } ?? ""): \(line.map { String(cString: $0) } ?? "")", metadata: ["level": "\(level)"])
        }
    }

    static let libraryLogger = Logger(label: "librdkafka")

    var lastError: String? { last.withLock { $0 } }

    func clear() {
        if last.withLock({ $0 != nil }) { last.withLock { $0 = nil } }
    }

    func report(_ code: Int32, _ reason: String) {
        last.withLock { $0 = reason }
        let err = rd_kafka_resp_err_t(code)
        if err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE {
            let now = ContinuousClock.now
            let quiet = lastTransportLog.withLock { t -> Bool in
                if let t, now - t < .seconds(10) { return true }
                t = now
                return false
            }
            if quiet { return }
        }
        if err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN {
            logger.error("kafka \(role): \(reason)")
        } else {
            logger.warning("kafka \(role): \(reason)")
        }
    }
}
