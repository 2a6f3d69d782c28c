import BrokerKit
import CNats
import Foundation
import Synchronization

/// One message fetched from a pull consumer, owned until it is acknowledged or rejected.
final class NatsMessage: @unchecked Sendable {
    let raw: OpaquePointer
    /// The subscription the message came from: nats.c acks through it, so it must outlive the message.
    let subscription: PullSubscription
    init(_ raw: OpaquePointer, subscription: PullSubscription) {
        self.raw = raw
        self.subscription = subscription
    }
    deinit { natsMsg_Destroy(raw) }

    /// Settles with the server; a no-op once the connection was closed (the server redelivers the
    /// message after AckWait), so a late settlement never touches a destroyed connection.
    func ack() { subscription.gate.ifOpen { _ = natsMsg_Ack(raw, nil) } }
    func nak(delayMs: Int64) { subscription.gate.ifOpen { _ = delayMs > 0 ? natsMsg_NakWithDelay(raw, delayMs, nil) : natsMsg_Nak(raw, nil) } }
}

/// Whether a client's connection is still usable; settlements and close exclude each other.
final class ConnectionGate: Sendable {
    private let open = Mutex(true)
    func ifOpen(_ body: () -> Void) { open.withLock { if $0 { body() } } }
    func close() { open.withLock { $0 = false } }
}

/// The user JWT and nkey seed of NATS decentralized authentication (Dapr's `jwt` and `seedKey`).
final class NatsCredentials: Sendable {
    let jwt: String
    let seed: String
    init(jwt: String, seed: String) {
        self.jwt = jwt
        self.seed = seed
    }
}

/// A fetched message's contents, copied out of nats.c.
struct FetchedMessage: Sendable {
    var message: NatsMessage
    var payload: [UInt8]
    var headers: [String: String]
    /// How many times the server has delivered it (1 the first time).
    var deliveries: Int
}

/// The one nats.c connection of a component and its JetStream context: the only code that calls
/// the NATS C API. Publishes are asynchronous (the PubAck arrives on a nats.c thread and resumes
/// the caller); blocking requests (stream and consumer management, fetch) are made by callers
/// through `runBlocking` or on a subscription's own thread.
final class NatsClient: Sendable {
    private struct Handles: @unchecked Sendable {
        let connection: OpaquePointer
        let jetStream: OpaquePointer
    }

    /// Waiting publishers, keyed by their message's address; the PubAck callback's closure.
    final class PublishWaiters: Sendable {
        let waiting = Mutex<[UInt: CheckedContinuation<String?, Never>]>([:])

        func complete(_ msg: OpaquePointer?, error: String?) {
            guard let msg else { return }
            waiting.withLock { $0.removeValue(forKey: UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(msg)))) }?.resume(returning: error)
        }
    }

    private let handles: Handles
    private let waiters: PublishWaiters
    /// Read by nats.c's callbacks on every (re)connect: kept as long as the connection.
    private let credentials: NatsCredentials?
    /// Closed before the connection is destroyed.
    let gate = ConnectionGate()

    /// Connects (blocking; call through `runBlocking`), retrying forever once connected.
    init(options: JetStreamOptions) throws(BrokerError) {
        var opts: OpaquePointer?
        guard natsOptions_Create(&opts) == NATS_OK, let opts else { throw BrokerError(.unavailable, "nats: cannot create options") }
        defer { natsOptions_Destroy(opts) }
        _ = natsOptions_SetURL(opts, options.url)
        _ = natsOptions_SetName(opts, options.name)
        _ = natsOptions_SetMaxReconnect(opts, -1)
        _ = natsOptions_SetReconnectWait(opts, 250)
        _ = natsOptions_SetRetryOnFailedConnect(opts, false, nil, nil)
        if let token = options.token { _ = natsOptions_SetToken(opts, token) }
        if let credentials = options.credentials {
            let closure = Unmanaged.passUnretained(credentials).toOpaque()
            let s = natsOptions_SetUserCredentialsCallbacks(opts, { jwt, _, closure in
                guard let jwt, let closure else { return NATS_ERR }
                jwt.pointee = strdup(Unmanaged<NatsCredentials>.fromOpaque(closure).takeUnretainedValue().jwt)  // nats.c frees it
                return jwt.pointee == nil ? NATS_NO_MEMORY : NATS_OK
            }, closure, { _, signature, length, nonce, closure in
                guard let closure, let nonce else { return NATS_ERR }
                return nats_Sign(Unmanaged<NatsCredentials>.fromOpaque(closure).takeUnretainedValue().seed, nonce, signature, length)
            }, closure)
            guard s == NATS_OK else { throw BrokerError(.configuration, "nats credentials: \(Self.lastError(s))") }
        }
        if let cert = options.tlsClientCert, let key = options.tlsClientKey {
            let s = natsOptions_LoadCertificatesChain(opts, cert, key)
            guard s == NATS_OK else { throw BrokerError(.configuration, "nats TLS client certificate: \(Self.lastError(s))") }
        }
        var nc: OpaquePointer?
        let status = natsConnection_Connect(&nc, opts)
        guard status == NATS_OK, let nc else { throw BrokerError(.unavailable, "nats connect to \(options.url): \(Self.lastError(status))") }

        let waiters = PublishWaiters()
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.PublishAsync.AckHandler = { _, msg, _, pae, closure in
            guard let closure else { return }
            let waiters = Unmanaged<PublishWaiters>.fromOpaque(closure).takeUnretainedValue()
            if let pae {
                let text = pae.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(pae.pointee.Err))
                waiters.complete(msg, error: text)
            } else {
                waiters.complete(msg, error: nil)
            }
        }
        jsOpts.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(waiters).toOpaque()
        jsOpts.PublishAsync.MaxPending = 100_000
        var js: OpaquePointer?
        let jsStatus = natsConnection_JetStream(&js, nc, &jsOpts)
        guard jsStatus == NATS_OK, let js else {
            natsConnection_Destroy(nc)
            throw BrokerError(.unavailable, "nats JetStream context: \(Self.lastError(jsStatus))")
        }
        handles = Handles(connection: nc, jetStream: js)
        self.waiters = waiters
        credentials = options.credentials
    }

    static func lastError(_ status: natsStatus) -> String {
        let text = nats_GetLastError(nil).map { String(cString: $0) } ?? ""
        return text.isEmpty ? String(cString: natsStatus_GetText(status)) : text
    }

    var isConnected: Bool { natsConnection_Status(handles.connection) == NATS_CONN_STATUS_CONNECTED }

    // MARK: Publish

    /// Publishes and waits for the stream's PubAck. `messageID` becomes `Nats-Msg-Id`, which the
    /// server uses to drop a duplicate of the same event within the stream's window.
    func publish(subject: String, payload: [UInt8], headers: [String: String], messageID: String?) async throws(BrokerError) {
        var msg: OpaquePointer?
        let created = payload.withUnsafeBytes { bytes in
            natsMsg_Create(&msg, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        guard created == NATS_OK, let message = msg else { throw BrokerError(.rejected, "nats message: \(Self.lastError(created))") }
        for (k, v) in headers { _ = natsMsgHeader_Set(message, k, v) }
        if let messageID { _ = natsMsgHeader_Set(message, "Nats-Msg-Id", messageID) }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(message)))
        let js = handles.jetStream
        let error: String? = await withCheckedContinuation { c in
            waiters.waiting.withLock { $0[key] = c }
            var owned: OpaquePointer? = message
            // Bounded: a PubAck lost with a connection fails the publish after 10 s instead of
            // leaving the HTTP request waiting forever.
            var options = jsPubOptions()
            jsPubOptions_Init(&options)
            options.MaxWait = 10_000
            let status = js_PublishMsgAsync(js, &owned, &options)
            if status != NATS_OK {
                natsMsg_Destroy(owned)  // still ours when the call failed
                waiters.waiting.withLock { $0.removeValue(forKey: key) }?.resume(returning: Self.lastError(status))
            }
        }
        if let error {
            // Without a PubAck Courier cannot tell whether the stream stored the message: a timeout
            // may hide a stored publish, so the error says so (publishing is at-least-once).
            let unknown = error.contains("timeout")
            throw BrokerError(error.contains("no responders") || unknown ? .unavailable : .rejected,
                              "jetstream did not confirm the publish to \(subject): \(error)"
                                  + (unknown ? " (the message may have been stored; a retry can store it twice)" : ""))
        }
    }

    // MARK: Streams and consumers (blocking)

    /// The streams whose subjects capture `subject`, from JetStream's stream-names API with a
    /// subject filter (nats.c has no call for it, so this is the API request itself). At most one
    /// for a literal subject: the server refuses streams with overlapping subjects.
    func streams(capturing subject: String) throws(BrokerError) -> [String] {
        let object = try apiRequest("$JS.API.STREAM.NAMES", ["subject": subject], doing: "looking up the stream of subject \(subject)")
        if let error = object["error"] as? [String: Any] {
            throw BrokerError(.unavailable, "jetstream: looking up the stream of subject \(subject): \(error["description"] ?? error)")
        }
        return object["streams"] as? [String] ?? []
    }

    /// A JetStream API request (JSON in, JSON out) for what nats.c has no call for.
    func apiRequest(_ subject: String, _ body: [String: Any], doing what: String) throws(BrokerError) -> [String: Any] {
        guard let data = try? JSONSerialization.data(withJSONObject: body) else {
            throw BrokerError(.rejected, "jetstream: \(what): the request cannot be encoded")
        }
        var reply: OpaquePointer?
        let s = data.withUnsafeBytes { natsConnection_Request(&reply, handles.connection, subject, $0.baseAddress, Int32($0.count), 5_000) }
        guard s == NATS_OK, let reply else { throw BrokerError(.unavailable, "jetstream: \(what): \(Self.lastError(s))") }
        defer { natsMsg_Destroy(reply) }
        let length = Int(natsMsg_GetDataLength(reply))
        let answer = natsMsg_GetData(reply).map { Data(bytes: $0, count: length) } ?? Data()
        guard let object = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any] else {
            throw BrokerError(.unavailable, "jetstream: \(what): the answer is not JSON")
        }
        return object
    }

    /// Up to `limit` messages of `subject` in `stream` from sequence `from` on, each with its
    /// sequence; read by sequence (no consumer involved).
    func messages(stream: String, subject: String, from: UInt64, limit: Int) throws(BrokerError) -> [(seq: UInt64, payload: [UInt8], headers: [String: String])] {
        var out: [(seq: UInt64, payload: [UInt8], headers: [String: String])] = []
        var seq = max(from, 1)
        while out.count < limit {
            let answer = try apiRequest("$JS.API.STREAM.MSG.GET.\(stream)", ["seq": seq, "next_by_subj": subject],
                                        doing: "reading \(subject) in stream \(stream)")
            if let error = answer["error"] as? [String: Any] {
                if (error["err_code"] as? Int) == 10037 { break }  // no message at or after seq: the end
                throw BrokerError(.unavailable, "jetstream: reading \(subject) in stream \(stream): \(error["description"] ?? error)")
            }
            guard let message = answer["message"] as? [String: Any], let n = (message["seq"] as? NSNumber)?.uint64Value else { break }
            let payload = (message["data"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
            let headers = (message["hdrs"] as? String).flatMap { Data(base64Encoded: $0) }.map { Self.headers($0) } ?? [:]
            out.append((n, payload, headers))
            seq = n + 1
        }
        return out
    }

    /// NATS headers (`NATS/1.0` then `Key: Value` lines), the first value of each key.
    static func headers(_ block: Data) -> [String: String] {
        var out: [String: String] = [:]
        let text = String(decoding: block, as: UTF8.self)
        for line in text.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon]), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if out[key] == nil { out[key] = value }
        }
        return out
    }

    /// Deletes message `seq` of `stream` if it is one of `subject` (a shared stream holds other
    /// topics' messages too); gone already: nothing to do.
    func deleteMessage(stream: String, seq: UInt64, subject: String) throws(BrokerError) {
        let got = try apiRequest("$JS.API.STREAM.MSG.GET.\(stream)", ["seq": seq], doing: "reading message \(seq) of stream \(stream)")
        if let error = got["error"] as? [String: Any] {
            if [10037, 10043].contains(error["err_code"] as? Int) { return }
            throw BrokerError(.unavailable, "jetstream: reading message \(seq) of stream \(stream): \(error["description"] ?? error)")
        }
        guard (got["message"] as? [String: Any])?["subject"] as? String == subject else {
            throw BrokerError(.rejected, "jetstream: message \(seq) of stream \(stream) is not one of \(subject)")
        }
        let answer = try apiRequest("$JS.API.STREAM.MSG.DELETE.\(stream)", ["seq": seq], doing: "deleting message \(seq) of stream \(stream)")
        if let error = answer["error"] as? [String: Any], ![10037, 10043].contains(error["err_code"] as? Int) {
            throw BrokerError(.unavailable, "jetstream: deleting message \(seq) of stream \(stream): \(error["description"] ?? error)")
        }
    }

    /// Whether stream `name` exists.
    func streamExists(_ name: String) throws(BrokerError) -> Bool {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let s = js_GetStreamInfo(&info, handles.jetStream, name, nil, &code)
        if let info { jsStreamInfo_Destroy(info) }
        if s == NATS_OK { return true }
        guard code == JSStreamNotFoundErr else { throw BrokerError(.unavailable, "jetstream stream \(name): \(Self.lastError(s))") }
        return false
    }

    /// Makes sure `stream` exists and stores `subject`: creates it, or adds the subject.
    func ensureStream(_ stream: String, subject: String, memory: Bool, replicas: Int64) throws(BrokerError) {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let s = js_GetStreamInfo(&info, handles.jetStream, stream, nil, &code)
        if s == NATS_OK, let info {
            defer { jsStreamInfo_Destroy(info) }
            guard let cfg = info.pointee.Config else { return }
            let subjects = (0..<Int(cfg.pointee.SubjectsLen)).compactMap { cfg.pointee.Subjects[$0].map { String(cString: $0) } }
            if subjects.contains(subject) || subjects.contains(where: { Self.subjectMatches(pattern: $0, subject) }) { return }
            try withStreamConfig(stream, subjects: subjects + [subject], memory: memory, replicas: replicas) { cfg throws(BrokerError) in
                var updated: UnsafeMutablePointer<jsStreamInfo>?
                var code = jsErrCode(0)
                let u = js_UpdateStream(&updated, handles.jetStream, cfg, nil, &code)
                if let updated { jsStreamInfo_Destroy(updated) }
                guard u == NATS_OK else { throw BrokerError(.unavailable, "jetstream: adding subject \(subject) to stream \(stream): \(Self.lastError(u))") }
            }
            return
        }
        guard code == JSStreamNotFoundErr else { throw BrokerError(.unavailable, "jetstream stream \(stream): \(Self.lastError(s))") }
        try withStreamConfig(stream, subjects: [subject], memory: memory, replicas: replicas) { cfg throws(BrokerError) in
            var created: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(0)
            let a = js_AddStream(&created, handles.jetStream, cfg, nil, &code)
            if let created { jsStreamInfo_Destroy(created) }
            guard a == NATS_OK || code == JSStreamNameExistErr else {
                throw BrokerError(.unavailable, "jetstream: creating stream \(stream): \(Self.lastError(a))")
            }
        }
    }

    private func withStreamConfig(_ name: String, subjects: [String], memory: Bool, replicas: Int64,
                                  _ body: (UnsafeMutablePointer<jsStreamConfig>) throws(BrokerError) -> Void) throws(BrokerError) {
        let strings = CStrings([name] + subjects)
        var cfg = jsStreamConfig()
        jsStreamConfig_Init(&cfg)
        cfg.Name = UnsafePointer(strings[0])
        var subjectPointers: [UnsafePointer<CChar>?] = (1...subjects.count).map { UnsafePointer(strings[$0]) }
        cfg.SubjectsLen = Int32(subjects.count)
        cfg.Storage = memory ? js_MemoryStorage : js_FileStorage
        if replicas > 0 { cfg.Replicas = replicas }
        try subjectPointers.withUnsafeMutableBufferPointer { buffer throws(BrokerError) in
            cfg.Subjects = buffer.baseAddress
            try body(&cfg)
        }
    }

    /// NATS subject wildcards: `*` one token, `>` the rest.
    static func subjectMatches(pattern: String, _ subject: String) -> Bool {
        let p = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let s = subject.split(separator: ".", omittingEmptySubsequences: false)
        for (i, token) in p.enumerated() {
            if token == ">" { return s.count > i }
            guard i < s.count, token == "*" || token == s[i] else { return false }
        }
        return p.count == s.count
    }

    /// Binds a pull subscription to durable consumer `durable` (created when missing).
    func pullSubscribe(subject: String, stream: String, durable: String, options: JetStreamOptions) throws(BrokerError) -> PullSubscription {
        let strings = CStrings([subject, stream, durable])
        var so = jsSubOptions()
        jsSubOptions_Init(&so)
        so.Stream = UnsafePointer(strings[1])
        so.Config.Durable = UnsafePointer(strings[2])
        so.Config.AckPolicy = js_AckExplicit
        so.Config.FilterSubject = UnsafePointer(strings[0])
        switch options.deliverPolicy {
        case .all: so.Config.DeliverPolicy = js_DeliverAll
        case .last: so.Config.DeliverPolicy = js_DeliverLast
        case .new: so.Config.DeliverPolicy = js_DeliverNew
        case .sequence: so.Config.DeliverPolicy = js_DeliverByStartSequence; so.Config.OptStartSeq = options.startSequence
        case .time: so.Config.DeliverPolicy = js_DeliverByStartTime; so.Config.OptStartTime = options.startTime * 1_000_000_000
        }
        if options.ackWaitNanos > 0 { so.Config.AckWait = options.ackWaitNanos }
        if options.maxDeliver > 0 { so.Config.MaxDeliver = options.maxDeliver }
        if options.maxAckPending > 0 { so.Config.MaxAckPending = options.maxAckPending }
        if options.memoryStorage { so.Config.MemoryStorage = true }
        var backOff = options.backOffNanos
        var sub: OpaquePointer?
        var code = jsErrCode(0)
        let status = backOff.withUnsafeMutableBufferPointer { buffer in
            if !buffer.isEmpty {
                so.Config.BackOff = buffer.baseAddress
                so.Config.BackOffLen = Int32(buffer.count)
            }
            return js_PullSubscribe(&sub, handles.jetStream, strings[0], strings[2], nil, &so, &code)
        }
        guard status == NATS_OK, let sub else {
            throw BrokerError(.unavailable, "jetstream pull subscription \(durable) on \(subject): \(Self.lastError(status))")
        }
        return PullSubscription(raw: sub, gate: gate)
    }

    /// A consumer's pending (not yet delivered) and ack-pending counts; when the consumer does not
    /// exist yet, the messages the stream holds on `subject` (a stream may hold other subjects too).
    func backlog(stream: String, subject: String, durable: String) throws(BrokerError) -> Backlog {
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        let s = js_GetConsumerInfo(&info, handles.jetStream, stream, durable, nil, &code)
        if s == NATS_OK, let info {
            defer { jsConsumerInfo_Destroy(info) }
            return Backlog(undelivered: Int64(info.pointee.NumPending), inFlight: info.pointee.NumAckPending)
        }
        guard code == JSConsumerNotFoundErr || code == JSStreamNotFoundErr else {
            throw BrokerError(.unavailable, "jetstream consumer \(durable): \(Self.lastError(s))")
        }
        if code == JSStreamNotFoundErr { return Backlog(undelivered: 0, inFlight: 0) }
        var stream_: UnsafeMutablePointer<jsStreamInfo>?
        var options = jsOptions()
        jsOptions_Init(&options)
        let filter = CStrings([subject])
        options.Stream.Info.SubjectsFilter = UnsafePointer(filter[0])
        guard js_GetStreamInfo(&stream_, handles.jetStream, stream, &options, &code) == NATS_OK, let stream_ else { return Backlog(undelivered: 0, inFlight: 0) }
        defer { jsStreamInfo_Destroy(stream_) }
        guard let subjects = stream_.pointee.State.Subjects else { return Backlog(undelivered: 0, inFlight: 0) }
        let held = (0..<Int(subjects.pointee.Count)).reduce(UInt64(0)) { $0 + subjects.pointee.List[$1].Msgs }
        return Backlog(undelivered: Int64(held), inFlight: 0)
    }

    /// Waits (up to 10 s) for outstanding publishes, then closes the connection. Blocking.
    func close() {
        var opts = jsPubOptions()
        jsPubOptions_Init(&opts)
        opts.MaxWait = 10_000
        _ = js_PublishAsyncComplete(handles.jetStream, &opts)
        gate.close()
        jsCtx_Destroy(handles.jetStream)
        natsConnection_Close(handles.connection)
        natsConnection_Destroy(handles.connection)
    }
}

/// A pull subscription; fetched from its owner's thread only.
final class PullSubscription: @unchecked Sendable {
    let raw: OpaquePointer
    let gate: ConnectionGate
    init(raw: OpaquePointer, gate: ConnectionGate) {
        self.raw = raw
        self.gate = gate
    }
    deinit { natsSubscription_Destroy(raw) }

    /// Up to `batch` messages, waiting up to `timeoutMs` for the first. Blocking.
    func fetch(batch: Int, timeoutMs: Int64) -> Result<[FetchedMessage], BrokerError> {
        var list = natsMsgList()
        var code = jsErrCode(0)
        let status = natsSubscription_Fetch(&list, raw, Int32(batch), timeoutMs, &code)
        if status == NATS_TIMEOUT { return .success([]) }
        guard status == NATS_OK else { return .failure(BrokerError(.unavailable, "jetstream fetch: \(NatsClient.lastError(status))")) }
        var out: [FetchedMessage] = []
        out.reserveCapacity(Int(list.Count))
        for i in 0..<Int(list.Count) {
            guard let raw = list.Msgs[i] else { continue }
            list.Msgs[i] = nil  // ours now; natsMsgList_Destroy skips it
            out.append(Self.copy(NatsMessage(raw, subscription: self)))
        }
        natsMsgList_Destroy(&list)
        return .success(out)
    }

    private static func copy(_ message: NatsMessage) -> FetchedMessage {
        let raw = message.raw
        let length = Int(natsMsg_GetDataLength(raw))
        let payload = natsMsg_GetData(raw).map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        if natsMsgHeader_Keys(raw, &keys, &count) == NATS_OK, let keys {
            for i in 0..<Int(count) {
                guard let key = keys[i] else { continue }
                var value: UnsafePointer<CChar>?
                if natsMsgHeader_Get(raw, key, &value) == NATS_OK, let value { headers[String(cString: key)] = String(cString: value) }
            }
            free(keys)
        }
        var deliveries = 1
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, raw) == NATS_OK, let meta {
            deliveries = Int(meta.pointee.NumDelivered)
            jsMsgMetaData_Destroy(meta)
        }
        return FetchedMessage(message: message, payload: payload, headers: headers, deliveries: deliveries)
    }
}

/// C copies of Swift strings that live as long as this object.
final class CStrings {
    private let pointers: [UnsafeMutablePointer<CChar>]
    init(_ strings: [String]) { pointers = strings.map { strdup($0)! } }
    subscript(i: Int) -> UnsafeMutablePointer<CChar> { pointers[i] }
    deinit { pointers.forEach { free($0) } }
}
