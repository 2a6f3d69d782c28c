import CNats
import Foundation

/// One nats.c connection publishing `count` messages of `size` bytes asynchronously to a JetStream
/// stream and waiting for every PubAck; returns acknowledged messages per second.
func natsPublisherLoop(url: String, count: Int, size: Int) -> Double {
    var nc: OpaquePointer?
    precondition(natsConnection_ConnectTo(&nc, url) == NATS_OK, "nats connect")
    var js: OpaquePointer?
    var options = jsOptions()
    jsOptions_Init(&options)
    options.PublishAsync.MaxPending = 4096
    precondition(natsConnection_JetStream(&js, nc, &options) == NATS_OK, "jetstream")
    let name = "RAWBENCH_\(UUID().uuidString.prefix(6))"
    let subject = strdup(name.lowercased())!
    defer { free(subject) }
    var cfg = jsStreamConfig()
    jsStreamConfig_Init(&cfg)
    let streamName = strdup(name)!
    defer { free(streamName) }
    cfg.Name = UnsafePointer(streamName)
    var subjects: [UnsafePointer<CChar>?] = [UnsafePointer(subject)]
    var code = jsErrCode(0)
    subjects.withUnsafeMutableBufferPointer { buffer in
        cfg.Subjects = buffer.baseAddress
        cfg.SubjectsLen = 1
        var info: UnsafeMutablePointer<jsStreamInfo>?
        precondition(js_AddStream(&info, js, &cfg, nil, &code) == NATS_OK, "add stream")
        jsStreamInfo_Destroy(info)
    }
    let payload = [CChar](repeating: CChar(UInt8(ascii: "x")), count: size)
    let start = ContinuousClock.now
    for _ in 0..<count { _ = js_PublishAsync(js, subject, payload, Int32(size), nil) }
    var complete = jsPubOptions()
    jsPubOptions_Init(&complete)
    complete.MaxWait = 60_000
    precondition(js_PublishAsyncComplete(js, &complete) == NATS_OK, "publish complete")
    let seconds = elapsedSeconds(since: start)
    _ = js_DeleteStream(js, streamName, nil, &code)
    jsCtx_Destroy(js)
    natsConnection_Destroy(nc)
    return Double(count) / seconds
}
