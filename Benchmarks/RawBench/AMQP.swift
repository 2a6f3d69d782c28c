import CRabbitMQ
import Foundation

/// One librabbitmq connection in confirm mode publishing `count` persistent messages of `size` bytes
/// to a durable queue through the default exchange, reading confirms as they come; returns
/// confirmed messages per second.
func amqpPublisherLoop(host: String, port: Int, count: Int, size: Int) -> Double {
    let conn = amqp_new_connection()!
    let socket = amqp_tcp_socket_new(conn)!
    precondition(amqp_socket_open(socket, host, Int32(port)) == 0, "amqp connect")
    var text = [CChar](repeating: 0, count: 256)
    precondition(courier_amqp_reply(courier_amqp_login(conn, "/", 10, "guest", "guest"), &text, 256) == 1, "login")
    amqp_channel_open(conn, 1)
    let queue = strdup("rawbench-\(UUID().uuidString.prefix(6))")!
    defer { free(queue) }
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 1, amqp_empty_table)
    amqp_confirm_select(conn, 1)
    _ = amqp_get_rpc_reply(conn)
    let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    var props = amqp_basic_properties_t()
    props._flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
    props.delivery_mode = 2
    var confirmed: UInt64 = 0
    func readConfirms(wait: Bool) {
        var frame = amqp_frame_t()
        var tv = timeval(tv_sec: 0, tv_usec: wait ? 100_000 : 0)
        while amqp_simple_wait_frame_noblock(conn, &frame, &tv) == AMQP_STATUS_OK.rawValue {
            var tag: UInt64 = 0
            var multiple: Int32 = 0
            if courier_amqp_confirm(&frame, &tag, &multiple) == 1 { confirmed = max(confirmed, tag) }
            tv = timeval(tv_sec: 0, tv_usec: 0)
        }
    }
    let start = ContinuousClock.now
    for i in 1...count {
        payload.withUnsafeBytes { bytes in
            _ = amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &props,
                                   amqp_bytes_t(len: bytes.count, bytes: UnsafeMutableRawPointer(mutating: bytes.baseAddress)))
        }
        if i % 256 == 0 { readConfirms(wait: false) }
    }
    while confirmed < UInt64(count) { readConfirms(wait: true) }
    let seconds = elapsedSeconds(since: start)
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS)
    amqp_destroy_connection(conn)
    return Double(count) / seconds
}
