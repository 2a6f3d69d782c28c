import BrokerKit
import CHiredis
import Dispatch
import Foundation
import Synchronization

/// One hiredis connection. hiredis is blocking and not thread-safe, so the connection is owned by
/// one serial dispatch queue: no C call ever runs on the cooperative pool. Commands queued while
/// the queue is busy are pipelined together (one write, then their replies in order).
final class RedisConnection: Sendable {
    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var password: String?
        var username: String?
        var database: Int
    }

    private struct Pending: @unchecked Sendable {
        /// The command in RESP, encoded by the caller.
        var command: [UInt8]
        var continuation: CheckedContinuation<RedisReply, any Error>
    }

    private struct Context: @unchecked Sendable { var pointer: UnsafeMutablePointer<redisContext>? }

    private let endpoint: Endpoint
    private let queue: DispatchQueue
    private let pending = Mutex<[Pending]>([])
    private let draining = Atomic<Bool>(false)
    /// Touched only on `queue`.
    nonisolated(unsafe) private var context: UnsafeMutablePointer<redisContext>?
    private let timeoutMs: Int

    init(endpoint: Endpoint, label: String, timeoutMs: Int = 5000) {
        self.endpoint = endpoint
        self.queue = DispatchQueue(label: "courier.redis.\(label)")
        self.timeoutMs = timeoutMs
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Sends one command; commands issued concurrently are pipelined.
    func send(_ args: [[UInt8]]) async throws(BrokerError) -> RedisReply {
        try await Self.typed { try await self.enqueue(args) }
    }

    func send(_ args: String...) async throws(BrokerError) -> RedisReply {
        try await send(args.map { Array($0.utf8) })
    }

    /// Continuations only throw `any Error`; everything this type throws is a `BrokerError`.
    private static func typed(_ body: () async throws -> RedisReply) async throws(BrokerError) -> RedisReply {
        do {
            return try await body()
        } catch let error as BrokerError {
            throw error
        } catch {
            throw BrokerError(.unavailable, "redis: \(error)")
        }
    }

    private func enqueue(_ args: [[UInt8]]) async throws -> RedisReply {
        let command = Self.encode(args)
        return try await withCheckedThrowingContinuation { continuation in
            pending.withLock { $0.append(Pending(command: command, continuation: continuation)) }
            if !draining.exchange(true, ordering: .acquiringAndReleasing) {
                queue.async { self.drain() }
            }
        }
    }

    /// Runs a blocking command (e.g. `XREADGROUP … BLOCK`) with its own read timeout, alone.
    func blocking(_ args: [[UInt8]], timeoutMs: Int) async throws(BrokerError) -> RedisReply {
        try await Self.typed { try await self.blockingUntyped(args, timeoutMs: timeoutMs) }
    }

    private func blockingUntyped(_ args: [[UInt8]], timeoutMs: Int) async throws -> RedisReply {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let ctx = try self.connected()
                    _ = chiredis_set_timeout(ctx, timeoutMs)
                    // A lost connection is freed inside roundTrip: only reset a context that still exists.
                    defer { if let current = self.context, current == ctx { _ = chiredis_set_timeout(ctx, self.timeoutMs) } }
                    continuation.resume(returning: try self.roundTrip([Self.encode(args)], on: ctx)[0])
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Frees the connection on its queue (after any command in progress), without blocking the caller.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if let context = self.context { redisFree(context) }
                self.context = nil
                continuation.resume()
            }
        }
    }

    // MARK: On the queue

    private func drain() {
        while true {
            let batch: [Pending] = pending.withLock { p in
                let b = p
                p.removeAll(keepingCapacity: true)
                return b
            }
            if batch.isEmpty {
                draining.store(false, ordering: .releasing)
                // A command may have arrived between the check and the store.
                if pending.withLock({ $0.isEmpty }) || draining.exchange(true, ordering: .acquiringAndReleasing) { return }
                continue
            }
            do {
                let ctx = try connected()
                let replies = try roundTrip(batch.map(\.command), on: ctx)
                for (p, r) in zip(batch, replies) { p.continuation.resume(returning: r) }
            } catch {
                for p in batch { p.continuation.resume(throwing: error) }
            }
        }
    }

    private func connected() throws(BrokerError) -> UnsafeMutablePointer<redisContext> {
        if let context, context.pointee.err == 0 { return context }
        if let context { redisFree(context) }
        context = nil
        guard let ctx = chiredis_connect(endpoint.host, Int32(endpoint.port), timeoutMs) else {
            throw BrokerError(.unavailable, "redis: cannot allocate a connection")
        }
        if ctx.pointee.err != 0 {
            let message = Self.errorText(ctx)
            redisFree(ctx)
            throw BrokerError(.unavailable, "redis \(endpoint.host):\(endpoint.port): \(message)")
        }
        context = ctx
        if let password = endpoint.password, !password.isEmpty {
            var auth = ["AUTH"]
            if let user = endpoint.username, !user.isEmpty { auth.append(user) }
            auth.append(password)
            if case .error(let e) = try roundTrip([Self.encode(auth.map { Array($0.utf8) })], on: ctx)[0] {
                throw BrokerError(.configuration, "redis AUTH failed: \(e)")
            }
        }
        if endpoint.database != 0, case .error(let e) = try roundTrip([Self.encode(["SELECT", String(endpoint.database)].map { Array($0.utf8) })], on: ctx)[0] {
            throw BrokerError(.configuration, "redis SELECT failed: \(e)")
        }
        return ctx
    }

    /// Appends every command (RESP, see `encode`), then reads every reply (a pipeline).
    private func roundTrip(_ commands: [[UInt8]], on ctx: UnsafeMutablePointer<redisContext>) throws(BrokerError) -> [RedisReply] {
        for command in commands {
            let rc = command.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(ctx, $0.baseAddress, $0.count) }
            }
            guard rc == REDIS_OK else { throw lost(ctx) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(ctx, &raw) == REDIS_OK, let raw else { throw lost(ctx) }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// A command in RESP (`*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per argument), built once by the
    /// caller: the payload is copied once into it, and hiredis sends it as it is.
    static func encode(_ args: [[UInt8]]) -> [UInt8] {
        func decimal(_ n: Int, into out: inout [UInt8]) { out.append(contentsOf: String(n).utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(args.reduce(16) { $0 + $1.count + 16 })
        out.append(UInt8(ascii: "*"))
        decimal(args.count, into: &out)
        out.append(contentsOf: [0x0D, 0x0A])
        for arg in args {
            out.append(UInt8(ascii: "$"))
            decimal(arg.count, into: &out)
            out.append(contentsOf: [0x0D, 0x0A])
            out.append(contentsOf: arg)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        return out
    }

    private func lost(_ ctx: UnsafeMutablePointer<redisContext>) -> BrokerError {
        let message = Self.errorText(ctx)
        redisFree(ctx)
        context = nil
        return BrokerError(.unavailable, "redis connection lost: \(message)")
    }

    private static func errorText(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: ctx.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func convert(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .string(Array(UnsafeRawBufferPointer(start: reply.str, count: Int(reply.len))))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: reply.str, count: Int(reply.len)), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: reply.str, count: Int(reply.len)), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for i in 0..<Int(reply.elements) {
                if let e = reply.element[i] { items.append(convert(e)) } else { items.append(.null) }
            }
            return .array(items)
        default:
            return .null
        }
    }
}
