import BrokerKit
import Foundation
import Logging
import Synchronization

/// One consumer of a Redis Streams consumer group: a reader on its own connection blocks in
/// XREADGROUP, entries wait in a bounded inbox, acks are batched XACKs, nacks re-claim the entry after
/// the delay, and entries pending longer than `processingTimeout` (a crashed consumer's) are
/// taken over with XAUTOCLAIM every `redeliverInterval`.
final class RedisSubscription: DeliverySource, DeliverySettler {
    let topic: String
    let group: String
    let consumer: String
    let options: RedisOptions
    let commands: RedisConnection
    let reader: RedisConnection
    let inbox: RedisInbox
    let acks: RedisAckBatcher
    let logger: Logger
    private let ids = DeliveryTokens<(id: String, attempt: Int)>()
    /// Entry ids this subscription holds (queued in the inbox or handed out, not yet settled), so the
    /// pending-entry sweep never hands out a second copy of one it is still working on.
    private let held = Mutex<Set<String>>([])
    private let stopped = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(topic: String, group: String, options: RedisOptions, commands: RedisConnection, acks: RedisAckBatcher, logger: Logger) {
        self.topic = topic
        self.group = group
        self.consumer = group
        self.options = options
        self.commands = commands
        self.reader = RedisConnection(endpoint: options.endpoint, label: "reader-\(topic)")
        self.inbox = RedisInbox(capacity: options.queueDepth)
        self.acks = acks
        self.logger = logger
    }

    func start() {
        let read = Task { await self.readLoop() }
        var all = [read]
        if options.redeliverIntervalMs > 0 { all.append(Task { await self.reclaimLoop() }) }
        tasks.withLock { $0 = all }
    }

    // MARK: DeliverySource

    func next() async throws(BrokerError) -> Delivery? {
        guard let entry = await inbox.take() else { return nil }
        let token = ids.issue((entry.id, entry.attempt))
        return Delivery(topic: topic, payload: entry.payload, metadata: entry.metadata, token: token, attempt: entry.attempt, settler: self)
    }

    func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await inbox.finish()
        for t in tasks.withLock({ $0 }) { t.cancel(); await t.value }
        await reader.close()
        await acks.flush()
    }

    // MARK: DeliverySettler

    func ack(_ delivery: Delivery) async throws(BrokerError) {
        guard let (id, _) = ids.take(delivery.token) else { return }
        held.withLock { _ = $0.remove(id) }
        acks.add(topic: topic, group: group, id: id)
    }

    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {
        guard let (id, attempt) = ids.take(delivery.token) else { return }
        scheduleReclaim(id: id, attempt: attempt + 1, after: delay)
    }

    func abandoned(token: UInt64, topic: String) {
        guard let (id, attempt) = ids.take(token) else { return }
        scheduleReclaim(id: id, attempt: attempt + 1, after: 0)
    }

    /// Takes the entry back from the pending list after `delay` and hands it out again.
    private func scheduleReclaim(id: String, attempt: Int, after delay: Double) {
        Task {
            if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
            guard !self.stopped.load(ordering: .acquiring) else { return }
            do {
                let reply = try await self.commands.send("XCLAIM", self.topic, self.group, self.consumer, "0", id)
                let entries = Self.entries(reply, attempt: attempt)
                if entries.isEmpty { self.held.withLock { _ = $0.remove(id) } }  // trimmed away meanwhile
                await self.enqueue(entries)
            } catch {
                self.held.withLock { _ = $0.remove(id) }  // let the pending-entry sweep recover it
                self.logger.warning("redis XCLAIM of \(id) failed; it is redelivered after processingTimeout: \(error)")
            }
        }
    }

    // MARK: Loops

    private func readLoop() async {
        var backoff = 0.1
        while !stopped.load(ordering: .acquiring) && !Task.isCancelled {
            do {
                let reply = try await reader.blocking(
                    ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(options.queueDepth), "BLOCK", "1000", "STREAMS", topic, ">"].map { Array($0.utf8) },
                    timeoutMs: 5000)
                backoff = 0.1
                if case .error(let e) = reply {
                    if e.hasPrefix("NOGROUP") { try await RedisBroker.ensureGroup(commands, topic: topic, group: group) }
                    else { logger.error("redis XREADGROUP: \(e)") }
                    continue
                }
                // [[stream, [[id, [k, v, ...]], ...]]]
                guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { continue }
                await enqueue(Self.entries(first[1], attempt: 1))
            } catch {
                logger.warning("redis reader: \(error); reconnecting in \(backoff)s")
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 5)
            }
        }
    }

    private func reclaimLoop() async {
        while !stopped.load(ordering: .acquiring) && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(options.redeliverIntervalMs))
            if stopped.load(ordering: .acquiring) { return }
            do {
                let reply = try await commands.send("XAUTOCLAIM", topic, group, consumer, String(options.processingTimeoutMs), "0-0",
                                                    "COUNT", String(options.queueDepth))
                // [next-cursor, [[id, fields], ...], (deleted ids)]
                if let parts = reply.array, parts.count >= 2 {
                    let mine = held.withLock { $0 }
                    let entries = Self.entries(parts[1], attempt: 2).filter { !mine.contains($0.id) }
                    if !entries.isEmpty {
                        logger.info("redis: took over \(entries.count) entries pending longer than processingTimeout")
                        await enqueue(entries)
                    }
                }
            } catch {
                logger.warning("redis XAUTOCLAIM failed: \(error)")
            }
        }
    }

    /// Queues entries for the subscriber and remembers them as held.
    private func enqueue(_ entries: [RedisInbox.Entry]) async {
        guard !entries.isEmpty else { return }
        held.withLock { h in for e in entries { h.insert(e.id) } }
        await inbox.put(entries)
    }

    /// Entries from an XREADGROUP/XCLAIM list: `[[id, [field, value, ...]], ...]`.
    static func entries(_ reply: RedisReply, attempt: Int) -> [RedisInbox.Entry] {
        guard let list = reply.array else { return [] }
        var out: [RedisInbox.Entry] = []
        for item in list {
            guard let pair = item.array, pair.count == 2, let id = pair[0].text, let fields = pair[1].array else { continue }
            var payload: [UInt8] = []
            var metadata: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count {
                if fields[i].text == "data", case .string(let b) = fields[i + 1] { payload = b }
                if fields[i].text == "metadata", case .string(let b) = fields[i + 1] { metadata = MetadataCodec.decode(b) }
                i += 2
            }
            out.append(RedisInbox.Entry(id: id, payload: payload, metadata: metadata, attempt: attempt))
        }
        return out
    }
}
