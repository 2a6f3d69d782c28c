import BrokerKit
import CMosquitto
import Foundation
import Logging
import Synchronization

/// One libmosquitto client (MQTT 3.1.1), and the only code that calls its C API. libmosquitto runs
/// its own network thread (`mosquitto_loop_start`), reconnects with back-off and re-sends
/// unacknowledged QoS 1/2 publishes; callbacks arrive on that thread. `publish` resumes its caller
/// when the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2) for the message id comes back; `subscribe`
/// likewise waits for the SUBACK.
final class MosquittoClient: Sendable {
    private struct Handle: @unchecked Sendable { let raw: OpaquePointer }

    /// The client's `obj`: what the C callbacks reach.
    final class Events: Sendable {
        struct Waiters {
            var waiting: [Int32: CheckedContinuation<Bool, Never>] = [:]
            /// Confirmed before their publisher registered (the callback won the race).
            var early: Set<Int32> = []
            /// Given up on (timed out); their late confirms are dropped.
            var abandoned: Set<Int32> = []
        }
        let waiters = Mutex(Waiters())
        /// Topic filters to (re)subscribe on every connect, with their QoS.
        let filters = Mutex<[String: Int32]>([:])
        let connected = Atomic<Bool>(false)
        let onMessage: @Sendable (String, [UInt8]) -> Void
        let logger: Logger

        init(logger: Logger, onMessage: @escaping @Sendable (String, [UInt8]) -> Void) {
            self.logger = logger
            self.onMessage = onMessage
        }

        func confirmed(_ mid: Int32) {
            let waiter = waiters.withLock { w -> CheckedContinuation<Bool, Never>? in
                if w.abandoned.remove(mid) != nil { return nil }
                if let c = w.waiting.removeValue(forKey: mid) { return c }
                w.early.insert(mid)
                return nil
            }
            waiter?.resume(returning: true)
        }
    }

    private let handle: Handle
    private let events: Events
    private let pem: PEMFiles?

    private static let libraryReady: Bool = { mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue }()

    init(options: MQTTOptions, clientID: String, logger: Logger, onMessage: @escaping @Sendable (String, [UInt8]) -> Void) throws(BrokerError) {
        guard Self.libraryReady else { throw BrokerError(.unavailable, "libmosquitto failed to initialise") }
        let events = Events(logger: logger, onMessage: onMessage)
        // libmosquitto's select() watches the client's socket pair (made here) and its socket
        // (made on connect): each needs a number below 1024, freed from the reserve just before.
        LowDescriptors.fill()
        LowDescriptors.release(2)
        guard let raw = mosquitto_new(clientID, options.cleanSession, Unmanaged.passUnretained(events).toOpaque()) else {
            throw BrokerError(.configuration, "mqtt: cannot create a client with id '\(clientID)'")
        }
        // libmosquitto reads the certificate files at every (re)connect: they live until `close`.
        let pem = options.tls ? PEMFiles(prefix: "courier-mqtt") : nil
        do throws(BrokerError) {
            if let user = options.username { _ = mosquitto_username_pw_set(raw, user, options.password) }
            if let pem {
                let ca = pem.write(options.caCert, "ca.pem"), cert = pem.write(options.clientCert, "cert.pem"), key = pem.write(options.clientKey, "key.pem")
                let rc = mosquitto_tls_set(raw, ca, ca == nil ? "/etc/ssl/certs" : nil, cert, key, nil)
                guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw BrokerError(.configuration, "mqtt TLS: \(String(cString: mosquitto_strerror(rc)))") }
            }
        } catch {
            mosquitto_destroy(raw)
            pem?.remove()
            throw error
        }
        _ = mosquitto_int_option(raw, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        // Nagle's algorithm plus delayed ACKs holds each small PUBLISH/PUBACK for ~40 ms.
        _ = mosquitto_int_option(raw, MOSQ_OPT_TCP_NODELAY, 1)
        _ = mosquitto_max_inflight_messages_set(raw, 1000)
        _ = mosquitto_reconnect_delay_set(raw, 1, 10, true)
        mosquitto_connect_callback_set(raw) { mosq, obj, rc in
            guard let obj else { return }
            let events = Unmanaged<Events>.fromOpaque(obj).takeUnretainedValue()
            guard rc == 0 else {
                events.logger.warning("mqtt connect refused: \(String(cString: mosquitto_connack_string(rc)))")
                return
            }
            events.connected.store(true, ordering: .releasing)
            for (filter, qos) in events.filters.withLock({ $0 }) { _ = mosquitto_subscribe(mosq, nil, filter, qos) }
        }
        mosquitto_disconnect_callback_set(raw) { _, obj, rc in
            guard let obj else { return }
            let events = Unmanaged<Events>.fromOpaque(obj).takeUnretainedValue()
            events.connected.store(false, ordering: .releasing)
            if rc != 0 { events.logger.warning("mqtt connection lost (\(String(cString: mosquitto_strerror(rc)))); reconnecting") }
        }
        mosquitto_publish_callback_set(raw) { _, obj, mid in
            guard let obj else { return }
            Unmanaged<Events>.fromOpaque(obj).takeUnretainedValue().confirmed(mid)
        }
        mosquitto_subscribe_callback_set(raw) { _, obj, mid, _, _ in
            guard let obj else { return }
            Unmanaged<Events>.fromOpaque(obj).takeUnretainedValue().confirmed(mid)
        }
        mosquitto_message_callback_set(raw) { _, obj, message in
            guard let obj, let m = message?.pointee, let topic = m.topic else { return }
            let payload = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(m.payloadlen))) } ?? []
            Unmanaged<Events>.fromOpaque(obj).takeUnretainedValue().onMessage(String(cString: topic), payload)
        }
        handle = Handle(raw: raw)
        self.events = events
        self.pem = pem
        LowDescriptors.release(1)
        let rc = mosquitto_connect_async(raw, options.host, Int32(options.port), 30)
        let socket = mosquitto_socket(raw)
        if socket >= 0 && !LowDescriptors.usable(socket) {
            logger.warning("mqtt: the connection's descriptor \(socket) is at or above 1024, which libmosquitto cannot watch; it will not connect until a lower one is free")
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue || rc == MOSQ_ERR_ERRNO.rawValue else {
            mosquitto_destroy(raw)
            throw BrokerError(.unavailable, "mqtt connect to \(options.host):\(options.port): \(String(cString: mosquitto_strerror(rc)))")
        }
        guard mosquitto_loop_start(raw) == MOSQ_ERR_SUCCESS.rawValue else {
            mosquitto_destroy(raw)
            throw BrokerError(.unavailable, "mqtt: cannot start the network thread")
        }
    }

    var isConnected: Bool { events.connected.load(ordering: .acquiring) }

    /// Waits up to `seconds` for the first connection.
    func waitConnected(seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !isConnected && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return isConnected
    }

    /// Publishes and, for QoS 1/2, waits (up to `timeout` seconds) for the broker's confirmation.
    func publish(topic: String, payload: [UInt8], qos: Int32, retain: Bool, timeout: Double = 10) async throws(BrokerError) {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { mosquitto_publish(handle.raw, &mid, topic, Int32($0.count), $0.baseAddress, qos, retain) }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            let kind: BrokerError.Kind = rc == MOSQ_ERR_NO_CONN.rawValue || rc == MOSQ_ERR_CONN_LOST.rawValue ? .unavailable : .rejected
            throw BrokerError(kind, "mqtt publish to \(topic): \(String(cString: mosquitto_strerror(rc)))")
        }
        guard qos > 0 else { return }
        guard await confirmation(of: mid, timeout: timeout) else {
            throw BrokerError(.unavailable, "mqtt: no acknowledgement for the publish to \(topic) within \(timeout)s")
        }
    }

    /// Waits for the PUBACK/PUBCOMP/SUBACK of message id `mid`; false after `timeout` seconds.
    private func confirmation(of mid: Int32, timeout: Double) async -> Bool {
        let events = events
        let timer = Task {
            try await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
            let waiter = events.waiters.withLock { w -> CheckedContinuation<Bool, Never>? in
                guard let c = w.waiting.removeValue(forKey: mid) else { return nil }
                w.abandoned.insert(mid)
                return c
            }
            waiter?.resume(returning: false)
        }
        let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let done = events.waiters.withLock { w -> Bool in
                if w.early.remove(mid) != nil { return true }
                w.waiting[mid] = c
                return false
            }
            if done { c.resume(returning: true) }
        }
        timer.cancel()
        return ok
    }

    /// Subscribes (waiting for the SUBACK when connected) and again after every reconnect.
    func subscribe(_ filter: String, qos: Int32) async throws(BrokerError) {
        events.filters.withLock { $0[filter] = qos }
        guard isConnected else { return }
        var mid: Int32 = 0
        let rc = mosquitto_subscribe(handle.raw, &mid, filter, qos)
        if rc == MOSQ_ERR_NO_CONN.rawValue { return }  // the connect callback subscribes
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw BrokerError(.unavailable, "mqtt subscribe to \(filter): \(String(cString: mosquitto_strerror(rc)))")
        }
        guard await confirmation(of: mid, timeout: 10) else { throw BrokerError(.unavailable, "mqtt: no SUBACK for \(filter) within 10 s") }
    }

    /// MQTT topic-filter matching (`+`, `#`).
    static func matches(filter: String, topic: String) -> Bool {
        var result = false
        return mosquitto_topic_matches_sub(filter, topic, &result) == MOSQ_ERR_SUCCESS.rawValue && result
    }

    /// Disconnects, stops the network thread (blocking; call through `runBlocking`) and frees the client.
    func close() {
        _ = mosquitto_disconnect(handle.raw)
        _ = mosquitto_loop_stop(handle.raw, false)
        mosquitto_destroy(handle.raw)
        LowDescriptors.fill()
        pem?.remove()
        withExtendedLifetime(events) {}
    }
}
