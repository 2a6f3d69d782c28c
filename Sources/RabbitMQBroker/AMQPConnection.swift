import BrokerKit
import CRabbitMQ
import Foundation

/// One AMQP 0-9-1 connection through librabbitmq, and the only code that calls its C API.
/// librabbitmq is not thread-safe per connection: each instance is used by one owner thread only
/// (a publisher's or a subscription's `PollThread`). Channel 1 carries the work; channel 2 is
/// opened on demand for passive queue checks, whose failure closes only that channel.
final class AMQPConnection: @unchecked Sendable {
    private var state: amqp_connection_state_t?
    private var checkChannelOpen = false

    /// A header or argument value.
    enum Value { case string(String), int(Int64) }

    /// A message received by a consumer.
    struct Envelope {
        var deliveryTag: UInt64
        var redelivered: Bool
        var body: [UInt8]
        var headers: [String: String]
    }

    /// What a publisher-confirm wait saw.
    enum ConfirmEvent {
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, multiple: Bool)
        case returned
        case timeout
    }

    /// Opens the socket, logs in and opens channel 1.
    func open(_ e: RabbitMQOptions.Endpoint, heartbeat: Int) throws(BrokerError) {
        close()
        guard let conn = amqp_new_connection() else { throw BrokerError(.unavailable, "amqp: out of memory") }
        let socket: OpaquePointer
        do throws(BrokerError) {
            if let tls = e.tls { socket = try Self.tlsSocket(conn, tls) } else { socket = try Self.tcpSocket(conn) }
        } catch {
            amqp_destroy_connection(conn)
            throw error
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        let rc = amqp_socket_open_noblock(socket, e.host, Int32(e.port), &timeout)
        guard rc == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(conn)
            throw BrokerError(.unavailable, "amqp connect to \(e.host):\(e.port): \(String(cString: amqp_error_string2(rc)))")
        }
        state = conn
        try check(courier_amqp_login(conn, e.vhost, Int32(heartbeat), e.user, e.password), "login as \(e.user)")
        amqp_channel_open(conn, 1)
        try check(amqp_get_rpc_reply(conn), "channel.open")
    }

    private static func tcpSocket(_ conn: amqp_connection_state_t) throws(BrokerError) -> OpaquePointer {
        guard let socket = amqp_tcp_socket_new(conn) else { throw BrokerError(.unavailable, "amqp: cannot create a socket") }
        return socket
    }

    /// A TLS socket that verifies the server's certificate chain and host name. The PEM texts are
    /// written to private temporary files for OpenSSL to load, and removed right after.
    private static func tlsSocket(_ conn: amqp_connection_state_t, _ tls: RabbitMQOptions.TLS) throws(BrokerError) -> OpaquePointer {
        guard let socket = amqp_ssl_socket_new(conn) else { throw BrokerError(.unavailable, "amqp: cannot create a TLS socket") }
        let pem = PEMFiles(prefix: "courier-amqp")  // OpenSSL loads them when set: removed on return
        defer { pem.remove() }
        let ca = pem.write(tls.caCert, "ca.pem") ?? "/etc/ssl/certs/ca-certificates.crt"
        var rc = amqp_ssl_socket_set_cacert(socket, ca)
        guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.configuration, "amqp TLS caCert: \(String(cString: amqp_error_string2(rc)))") }
        if let cert = tls.clientCert, let key = tls.clientKey {
            rc = amqp_ssl_socket_set_key(socket, pem.write(cert, "cert.pem"), pem.write(key, "key.pem"))
            guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.configuration, "amqp TLS client certificate: \(String(cString: amqp_error_string2(rc)))") }
        }
        amqp_ssl_socket_set_verify_peer(socket, 1)
        amqp_ssl_socket_set_verify_hostname(socket, 1)
        return socket
    }

    var isOpen: Bool { state != nil }

    func close() {
        guard let conn = state else { return }
        state = nil
        checkChannelOpen = false
        _ = amqp_connection_close(conn, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(conn)
    }

    deinit { close() }

    private func connection() throws(BrokerError) -> amqp_connection_state_t {
        guard let state else { throw BrokerError(.unavailable, "amqp connection is closed") }
        return state
    }

    private func check(_ reply: amqp_rpc_reply_t, _ what: String) throws(BrokerError) {
        var buffer = [CChar](repeating: 0, count: 256)
        if courier_amqp_reply(reply, &buffer, buffer.count) == 1 { return }
        let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw BrokerError(.unavailable, "amqp \(what): \(text)")
    }

    // MARK: Topology

    func declareExchange(_ name: String, kind: String, durable: Bool) throws(BrokerError) {
        let conn = try connection()
        let c = CStringPool()
        defer { withExtendedLifetime(c) {} }
        amqp_exchange_declare(conn, 1, c.bytes(name), c.bytes(kind), 0, durable ? 1 : 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(conn), "exchange.declare \(name)")
    }

    func declareQueue(_ name: String, durable: Bool, autoDelete: Bool, arguments: [(String, Value)]) throws(BrokerError) {
        let conn = try connection()
        let c = CStringPool()
        defer { withExtendedLifetime(c) {} }
        Self.withTable(arguments) { table in
            _ = amqp_queue_declare(conn, 1, c.bytes(name), 0, durable ? 1 : 0, 0, autoDelete ? 1 : 0, table)
        }
        try check(amqp_get_rpc_reply(conn), "queue.declare \(name)")
    }

    func bind(queue: String, exchange: String, routingKey: String) throws(BrokerError) {
        let conn = try connection()
        let c = CStringPool()
        defer { withExtendedLifetime(c) {} }
        amqp_queue_bind(conn, 1, c.bytes(queue), c.bytes(exchange), c.bytes(routingKey), amqp_empty_table)
        try check(amqp_get_rpc_reply(conn), "queue.bind \(queue) to \(exchange)")
    }

    /// Ready messages in `queue` (passive declare on channel 2); `nil` when the queue does not exist.
    func readyCount(_ queue: String) throws(BrokerError) -> Int64? {
        let conn = try connection()
        if !checkChannelOpen {
            amqp_channel_open(conn, 2)
            try check(amqp_get_rpc_reply(conn), "channel.open")
            checkChannelOpen = true
        }
        let c = CStringPool()
        defer { withExtendedLifetime(c) {} }
        let ok = amqp_queue_declare(conn, 2, c.bytes(queue), 1, 0, 0, 0, amqp_empty_table)
        let reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
            // 404: the queue does not exist, and the server closed channel 2.
            var closeOK = amqp_channel_close_ok_t()
            _ = amqp_send_method(conn, 2, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
            checkChannelOpen = false
            return nil
        }
        try check(reply, "queue.declare (passive) \(queue)")
        return ok.map { Int64($0.pointee.message_count) }
    }

    // MARK: Publishing

    func enableConfirms() throws(BrokerError) {
        let conn = try connection()
        amqp_confirm_select(conn, 1)
        try check(amqp_get_rpc_reply(conn), "confirm.select")
    }

    /// Sends one message (mandatory, so an unroutable one comes back as a return).
    func publish(exchange: String, routingKey: String, body: [UInt8], headers: [(String, Value)],
                 contentType: String?, deliveryMode: UInt8, priority: UInt8?, expirationMs: Int64?) throws(BrokerError) {
        let conn = try connection()
        let strings = [contentType ?? "", expirationMs.map(String.init) ?? ""]
        let names = CStringPool()
        defer { withExtendedLifetime(names) {} }
        let rc: Int32 = strings[0].withCString { ct in
            strings[1].withCString { exp in
                Self.withTable(headers) { table in
                    var props = amqp_basic_properties_t()
                    props._flags = UInt32(AMQP_BASIC_HEADERS_FLAG)
                    props.headers = table
                    if contentType != nil {
                        props._flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
                        props.content_type = amqp_cstring_bytes(ct)
                    }
                    if deliveryMode > 0 {
                        props._flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
                        props.delivery_mode = deliveryMode
                    }
                    if let priority {
                        props._flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
                        props.priority = priority
                    }
                    if expirationMs != nil {
                        props._flags |= UInt32(AMQP_BASIC_EXPIRATION_FLAG)
                        props.expiration = amqp_cstring_bytes(exp)
                    }
                    return body.withUnsafeBytes { bytes in
                        amqp_basic_publish(conn, 1, names.bytes(exchange), names.bytes(routingKey), 1, 0, &props,
                                           amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress)))
                    }
                }
            }
        }
        guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.unavailable, "amqp basic.publish: \(String(cString: amqp_error_string2(rc)))") }
    }

    /// Waits up to `timeoutMs` for a confirm, a return or nothing.
    func nextConfirm(timeoutMs: Int) throws(BrokerError) -> ConfirmEvent {
        let conn = try connection()
        var frame = amqp_frame_t()
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
        let rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv)
        if rc == AMQP_STATUS_TIMEOUT.rawValue { return .timeout }
        guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.unavailable, "amqp: \(String(cString: amqp_error_string2(rc)))") }
        var tag: UInt64 = 0
        var multiple: Int32 = 0
        switch courier_amqp_confirm(&frame, &tag, &multiple) {
        case 1: return .ack(tag: tag, multiple: multiple != 0)
        case 2: return .nack(tag: tag, multiple: multiple != 0)
        case 3:
            // The returned message's header and body follow; read them off the wire.
            var message = amqp_message_t()
            let reply = amqp_read_message(conn, frame.channel, &message, 0)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { amqp_destroy_message(&message) }
            return .returned
        case 4, 5: throw BrokerError(.unavailable, "amqp: the server closed the channel")
        default: return .timeout
        }
    }

    // MARK: Consuming

    func consume(queue: String, prefetch: Int, noAck: Bool) throws(BrokerError) {
        let conn = try connection()
        if prefetch > 0 {
            amqp_basic_qos(conn, 1, 0, UInt16(min(prefetch, 65_535)), 0)
            try check(amqp_get_rpc_reply(conn), "basic.qos")
        }
        let c = CStringPool()
        defer { withExtendedLifetime(c) {} }
        amqp_basic_consume(conn, 1, c.bytes(queue), amqp_empty_bytes, 0, noAck ? 1 : 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(conn), "basic.consume \(queue)")
    }

    /// The next delivery, waiting up to `timeoutMs`; `nil` on timeout.
    func nextDelivery(timeoutMs: Int) throws(BrokerError) -> Envelope? {
        let conn = try connection()
        amqp_maybe_release_buffers(conn)
        var envelope = amqp_envelope_t()
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
        let reply = amqp_consume_message(conn, &envelope, &tv, 0)
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            if reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            if reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
                // A frame other than a delivery (a cancel, a close): read it; a close ends the connection.
                var frame = amqp_frame_t()
                guard amqp_simple_wait_frame(conn, &frame) == AMQP_STATUS_OK.rawValue else { throw BrokerError(.unavailable, "amqp connection lost") }
                var tag: UInt64 = 0
                var multiple: Int32 = 0
                let kind = courier_amqp_confirm(&frame, &tag, &multiple)
                if kind == 4 || kind == 5 || (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
                    throw BrokerError(.unavailable, "amqp: the server closed the channel or cancelled the consumer")
                }
                return nil
            }
        }
        try check(reply, "basic.consume")
        defer { amqp_destroy_envelope(&envelope) }
        let m = envelope.message
        let body = m.body.bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: m.body.len)) } ?? []
        var headers: [String: String] = [:]
        if m.properties._flags & UInt32(AMQP_BASIC_HEADERS_FLAG) != 0, let entries = m.properties.headers.entries {
            var text = [CChar](repeating: 0, count: 4096)
            for i in 0..<Int(m.properties.headers.num_entries) {
                let entry = entries[i]
                let key = String(decoding: UnsafeRawBufferPointer(start: entry.key.bytes, count: entry.key.len), as: UTF8.self)
                var value = entry.value
                if courier_amqp_entry_text(&value, &text, text.count) >= 0 {
                    headers[key] = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                }
            }
        }
        return Envelope(deliveryTag: envelope.delivery_tag, redelivered: envelope.redelivered != 0, body: body, headers: headers)
    }

    func ack(_ tag: UInt64) throws(BrokerError) {
        let rc = amqp_basic_ack(try connection(), 1, tag, 0)
        guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.unavailable, "amqp basic.ack: \(String(cString: amqp_error_string2(rc)))") }
    }

    func nack(_ tag: UInt64, requeue: Bool) throws(BrokerError) {
        let rc = amqp_basic_nack(try connection(), 1, tag, 0, requeue ? 1 : 0)
        guard rc == AMQP_STATUS_OK.rawValue else { throw BrokerError(.unavailable, "amqp basic.nack: \(String(cString: amqp_error_string2(rc)))") }
    }

    /// Builds a C table whose strings live for the duration of `body`.
    private static func withTable<R>(_ items: [(String, Value)], _ body: (amqp_table_t) -> R) -> R {
        guard !items.isEmpty else { return body(amqp_empty_table) }
        let strings = CStringPool()
        let entries = UnsafeMutablePointer<amqp_table_entry_t>.allocate(capacity: items.count)
        defer { entries.deallocate() }
        for (i, (key, value)) in items.enumerated() {
            switch value {
            case .string(let s): courier_amqp_entry_string(entries + i, strings.add(key), strings.add(s))
            case .int(let n): courier_amqp_entry_int(entries + i, strings.add(key), n)
            }
        }
        return withExtendedLifetime(strings) { body(amqp_table_t(num_entries: Int32(items.count), entries: entries)) }
    }
}

/// C copies of Swift strings, freed together when the pool goes away: what `amqp_bytes_t` arguments
/// point at (a Swift string's own bridged pointer is only valid during the call it is passed to).
private final class CStringPool {
    func bytes(_ s: String) -> amqp_bytes_t { amqp_cstring_bytes(add(s)) }

    private var pointers: [UnsafeMutablePointer<CChar>] = []
    func add(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        pointers.append(p)
        return p
    }
    deinit { pointers.forEach { free($0) } }
}
