import BrokerKit
import CloudEvents
import Foundation
import NIOCore
import NIOHTTP1

extension SubscriptionRunner {
    /// Bulk subscribe (spec §3.7): batches of up to `maxMessagesCount` or `maxAwaitDurationMs`,
    /// one request per matched path, per-entry statuses, retries re-send only failed entries.
    /// With an `orderingKey` a batch holds at most one event per key (a later one waits for the
    /// next batch) and a batch ends only once each of its events was accepted, dropped or
    /// dead-lettered, so every key's events reach the app in order, inside and across batches.
    func runBulk(_ stream: DeliveryStream) async {
        let options = subscription.bulkSubscribe
        let mailbox = BatchMailbox(capacity: options.maxMessagesCount * 2)
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var iterator = stream.makeAsyncIterator()
                while true {
                    do {
                        guard let d = try await iterator.next() else { break }
                        await mailbox.put(d)
                    } catch {
                        self.logger.error("receiving from the broker failed: \(error)")
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                await mailbox.finish()
            }
            var carried: [Delivery] = []  // ordered: events whose key was already in the last batch
            while true {
                var batch = carried
                if batch.isEmpty {
                    guard let more = await mailbox.takeBatch(max: options.maxMessagesCount, maxWait: Double(options.maxAwaitDurationMs) / 1000) else { break }
                    batch = more
                } else {
                    batch += await mailbox.takeAvailable(max: options.maxMessagesCount - batch.count)
                }
                if let ordering { (batch, carried) = oneEventPerKey(batch, ordering) }
                await limit.acquire()
                await deliverBatch(batch, holding: ordering != nil)
                limit.release()
            }
        }
    }

    struct BulkEntry {
        var id: String
        var delivery: Delivery
        var body: [UInt8]
    }

    /// The first event of each key in `batch`, and the others (in order) for the next batch.
    func oneEventPerKey(_ batch: [Delivery], _ ordering: OrderingKey) -> (now: [Delivery], later: [Delivery]) {
        var seen = Set<String>(), now: [Delivery] = [], later: [Delivery] = []
        for delivery in batch {
            if case .success(let key) = key(of: delivery, ordering), !seen.insert(key).inserted {
                later.append(delivery)
            } else {
                now.append(delivery)
            }
        }
        return (now, later)
    }

    /// Delivers one batch. With `holding`, what would go back to the broker is tried again here
    /// after the broker's back-off until it was accepted, dropped or dead-lettered.
    func deliverBatch(_ batch: [Delivery], holding: Bool = false) async {
        var byPath: [String: [BulkEntry]] = [:]
        let now = RFC3339.currentUnixSeconds()
        for delivery in batch {
            if let ordering, case .failure(let why) = key(of: delivery, ordering) {
                await failUnprocessable(delivery, record(.ruleerror, delivery, answer: AppAnswer(error: why.description)))
                continue
            }
            let fields = subscription.rawPayload ? EnvelopeFields() : EnvelopeFields.scan(delivery.payload)
            guard let fields else {
                await failUnprocessable(delivery, record(.unparseable, delivery))
                continue
            }
            if fields.isExpired(now: now) {
                await deadLetterThenAck(delivery, record(.expired, delivery))
                continue
            }
            let path: String
            switch routes.route(envelope: subscription.rawPayload ? Envelope.wrapRaw(payload: delivery.payload, topic: subscription.topic, pubsubName: subscription.pubsubName, trace: nil) : delivery.payload) {
            case .path(let p): path = p
            case .noMatch:
                ingress.drop.record(0)
                await deadLetterThenAck(delivery, record(.unroutable, delivery))
                continue
            case .error(let why):
                await failUnprocessable(delivery, record(.ruleerror, delivery, answer: AppAnswer(error: why)))
                continue
            }
            byPath[path, default: []].append(BulkEntry(id: EventID.uuid(), delivery: delivery, body: delivery.payload))
        }
        var round = 0
        while !byPath.isEmpty {
            let paths = byPath
            byPath = [:]
            await withTaskGroup(of: (String, [BulkEntry]).self) { group in
                for (path, entries) in paths {
                    group.addTask { (path, await self.deliverBulk(path: path, entries: entries, holding: holding)) }
                }
                for await (path, held) in group where !held.isEmpty { byPath[path] = held }
            }
            if byPath.isEmpty { break }
            round += 1
            do {
                try await Task.sleep(for: .seconds(Self.redeliveryDelay(attempt: round)))
            } catch {
                return  // shutting down: unsettled, the broker redelivers them
            }
        }
    }

    /// One bulk request (with the policy's retries) and its settling; returns the entries left
    /// unsettled for another round (only with `holding`).
    func deliverBulk(path: String, entries: [BulkEntry], holding: Bool = false) async -> [BulkEntry] {
        let started = RFC3339.currentUnixSeconds()
        var outcomes: [String: DeliveryOutcome] = [:]
        var remaining = entries
        let policy = self.policy
        let timeout = policy.timeout(fallback: defaultTimeout)
        let (_, retries) = await policy.run {
            let result = await self.push(remaining, path: path, timeout: timeout)
            outcomes.merge(result) { _, new in new }
            remaining = remaining.filter { result[$0.id]?.isRetry ?? true }
            return remaining.isEmpty ? .success : (result.values.first { $0.isRetry } ?? .retry(status: nil, reason: "entries failed"))
        }
        if Task.isCancelled { return [] }
        let seconds = RFC3339.currentUnixSeconds() - started
        var held: [BulkEntry] = []
        for entry in entries {
            switch outcomes[entry.id] ?? .retry(status: nil, reason: "not delivered") {
            case .success:
                ingress.success.record(seconds)
                await settle(entry.delivery, ack: true)
            case .drop:
                ingress.drop.record(seconds)
                if await deadLetterThenAck(entry.delivery, record(.drop, entry.delivery, attempts: retries + 1, route: path), holding: holding) {
                    held.append(entry)
                }
            case .retry(let status, let reason):
                ingress.retry.record(seconds)
                if await failUnprocessable(entry.delivery, record(.maxretries, entry.delivery, attempts: retries + 1,
                                                                  answer: AppAnswer(httpStatus: status, error: reason), route: path),
                                           holding: holding) {
                    held.append(entry)
                }
            }
        }
        return held
    }

    /// One bulk request to the app: outcomes by entry id.
    func push(_ entries: [BulkEntry], path: String, timeout: Double) async -> [String: DeliveryOutcome] {
        switch channel {
        case .grpc(let callback):
            return await callback.onBulkTopicEvent(entries.map { AppBulkEntry(id: $0.id, event: $0.body, metadata: $0.delivery.metadata) },
                                                   path: path, subscription: subscription, timeout: timeout)
        case .http(let http):
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "pubsubname", value: subscription.pubsubName)
            let ids = entries.map(\.id)
            do {
                let response = try await http.send(method: .POST, path: path, headers: headers, body: bulkBody(entries), timeout: timeout)
                return AppResponse.bulk(status: response.status, body: response.body, entryIDs: ids)
            } catch {
                return Dictionary(uniqueKeysWithValues: ids.map { ($0, DeliveryOutcome.retry(status: nil, reason: "cannot reach the app: \(error)")) })
            }
        }
    }

    /// `{"id","type":"com.dapr.event.sent.bulk","topic","pubsubname","metadata","entries":[…]}`.
    func bulkBody(_ entries: [BulkEntry]) -> ByteBuffer {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(256) { $0 + $1.body.count + 200 })
        out.append(contentsOf: #"{"entries":["#.utf8)
        for (i, entry) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"contentType":"#.utf8)
            JSONWriter.writeString(subscription.rawPayload ? "application/octet-stream" : ContentType.cloudEventsJSON, into: &out)
            out.append(contentsOf: #","entryId":"#.utf8)
            JSONWriter.writeString(entry.id, into: &out)
            out.append(contentsOf: #","event":"#.utf8)
            if subscription.rawPayload {
                JSONWriter.writeString(Data(entry.body).base64EncodedString(), into: &out)
            } else {
                out.append(contentsOf: entry.body)
            }
            out.append(contentsOf: #","metadata":"#.utf8)
            JSONWriter.write(.object(entry.delivery.metadata.mapValues { .string($0) }), into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"id":"#.utf8)
        JSONWriter.writeString(EventID.uuid(), into: &out)
        out.append(contentsOf: #","metadata":"#.utf8)
        JSONWriter.write(.object(["pubsubName": .string(subscription.pubsubName)]), into: &out)
        out.append(contentsOf: #","pubsubname":"#.utf8)
        JSONWriter.writeString(subscription.pubsubName, into: &out)
        out.append(contentsOf: #","topic":"#.utf8)
        JSONWriter.writeString(subscription.topic, into: &out)
        out.append(contentsOf: #","type":"com.dapr.event.sent.bulk"}"#.utf8)
        return ByteBuffer(bytes: out)
    }
}
