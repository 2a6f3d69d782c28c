#!/usr/bin/env python3
"""The brokers' own Python clients, driven by Courier's integration tests.

    brokerctl.py produce KIND TARGET COUNT [--prefix P] [--start N]
    brokerctl.py consume KIND TARGET COUNT [--timeout S]
    brokerctl.py jetstream-add-stream NAME SUBJECT [SUBJECT...]
    brokerctl.py jetstream-streams

produce writes COUNT messages whose bytes are {"n":<i>} (i from --start), each with key
"k<i>" and a header h=v where the protocol has them. consume prints "ready" once subscribed,
then one JSON line per message: {"data": <text>, "key": ..., "headers": {...}, "topic": ...}.
jetstream-add-stream provisions a stream as an operator would (file storage, as `nats stream add`);
jetstream-streams prints {"<stream>": {"subjects": [...], "messages": N}} for every stream.
Broker addresses come from the environment scripts/brokers exports (KAFKA_BROKERS, AMQP_URL,
MQTT_URL, REDIS_URL, NATS_URL). TARGET is the topic, queue, stream or subject.
"""
import argparse, asyncio, json, os, sys, time, uuid
from urllib.parse import urlparse


def out(obj):
    print(json.dumps(obj), flush=True)


def body(i):
    return json.dumps({"n": i}, separators=(",", ":")).encode()


def kafka_produce(topic, count, start):
    from confluent_kafka import Producer
    # Batches of one record: tansu answers ListOffsets with the last batch's base offset + 1.
    p = Producer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "acks": "all", "linger.ms": 0, "batch.num.messages": 1})
    failed = []
    for i in range(start, start + count):
        p.produce(topic, body(i), key=f"k{i}", headers=[("h", b"v")],
                  on_delivery=lambda err, msg: failed.append(err) if err else None)
        p.poll(0)
    p.flush(30)
    if failed:
        sys.exit(f"kafka produce failed: {failed[0]}")


def kafka_consume(topic, count, timeout):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": "brokerctl-" + uuid.uuid4().hex[:8],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    # Assigned, not subscribed: no group join to wait for; every partition from the beginning.
    deadline = time.time() + timeout
    partitions = []
    while not partitions and time.time() < deadline:
        md = c.list_topics(topic, timeout=5).topics.get(topic)
        partitions = list(md.partitions) if md and not md.error else []
        if not partitions:
            time.sleep(0.2)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out("ready")
    got, deadline = 0, time.time() + timeout
    while got < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        headers = {k: (v or b"").decode() for k, v in (m.headers() or [])}
        out({"data": m.value().decode(), "key": (m.key() or b"").decode(), "headers": headers, "topic": m.topic()})
        got += 1
    c.close()


def amqp_params():
    import pika
    return pika.URLParameters(os.environ["AMQP_URL"])


def rabbit_produce(queue, count, start):
    import pika
    conn = pika.BlockingConnection(amqp_params())
    ch = conn.channel()
    ch.confirm_delivery()
    for i in range(start, start + count):
        ch.basic_publish("", queue, body(i), pika.BasicProperties(headers={"h": "v"}, delivery_mode=2), mandatory=True)
    conn.close()


def rabbit_consume(queue, count, timeout):
    conn = __import__("pika").BlockingConnection(amqp_params())
    ch = conn.channel()
    out("ready")
    got, deadline = 0, time.time() + timeout
    while got < count and time.time() < deadline:
        method, props, data = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in (props.headers or {}).items()}
        out({"data": data.decode(), "headers": headers, "contentType": props.content_type,
             "priority": props.priority, "expiration": props.expiration, "topic": queue})
        got += 1
    conn.close()


def mqtt_client():
    import paho.mqtt.client as mqtt
    u = urlparse(os.environ["MQTT_URL"])
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="brokerctl-" + uuid.uuid4().hex[:8])
    c.connect(u.hostname, u.port or 1883)
    return c


def mqtt_produce(topic, count, start):
    c = mqtt_client()
    c.loop_start()
    infos = [c.publish(topic, body(i), qos=1) for i in range(start, start + count)]
    for info in infos:
        info.wait_for_publish(30)
    c.loop_stop()
    c.disconnect()


def mqtt_consume(topic, count, timeout):
    c = mqtt_client()
    got = []
    c.on_message = lambda _c, _u, m: got.append(m)
    c.subscribe(topic, qos=1)
    c.loop_start()
    time.sleep(0.5)
    out("ready")
    deadline, printed = time.time() + timeout, 0
    while printed < count and time.time() < deadline:
        while printed < len(got) and printed < count:
            m = got[printed]
            out({"data": m.payload.decode(), "topic": m.topic, "retain": bool(m.retain)})
            printed += 1
        time.sleep(0.02)
    c.loop_stop()
    c.disconnect()


def redis_client():
    import redis
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def redis_produce(stream, count, start):
    r = redis_client()
    pipe = r.pipeline()
    for i in range(start, start + count):
        pipe.xadd(stream, {"data": body(i)})
    pipe.execute()


async def nats_produce(subject, count, start):
    import nats
    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    for i in range(start, start + count):
        await js.publish(subject, body(i), headers={"h": "v"})
    await nc.close()


async def nats_consume(subject, count, timeout):
    import nats
    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True)
    out("ready")
    got, deadline = 0, time.time() + timeout
    while got < count and time.time() < deadline:
        try:
            m = await sub.next_msg(timeout=0.5)
        except Exception:
            continue
        out({"data": m.data.decode(), "headers": dict(m.headers or {}), "topic": m.subject})
        got += 1
    await nc.close()


async def nats_add_stream(name, subjects):
    import nats
    nc = await nats.connect(os.environ["NATS_URL"])
    await nc.jetstream().add_stream(name=name, subjects=subjects)
    await nc.close()


async def nats_streams():
    import nats
    nc = await nats.connect(os.environ["NATS_URL"])
    infos = await nc.jetstream().streams_info()
    out({i.config.name: {"subjects": i.config.subjects, "messages": i.state.messages} for i in infos})
    await nc.close()


def main():
    if sys.argv[1:2] == ["jetstream-add-stream"]:
        asyncio.run(nats_add_stream(sys.argv[2], sys.argv[3:]))
        return out("done")
    if sys.argv[1:2] == ["jetstream-streams"]:
        return asyncio.run(nats_streams())
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["produce", "consume"])
    ap.add_argument("kind", choices=["kafka", "rabbitmq", "mqtt", "redis", "jetstream"])
    ap.add_argument("target")
    ap.add_argument("count", type=int)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    if a.action == "produce":
        {"kafka": kafka_produce, "rabbitmq": rabbit_produce, "mqtt": mqtt_produce, "redis": redis_produce,
         "jetstream": lambda t, c, s: asyncio.run(nats_produce(t, c, s))}[a.kind](a.target, a.count, a.start)
        out("done")
    else:
        if a.kind == "redis":
            sys.exit("consume redis: read keys with the redis binding's get operation instead")
        {"kafka": kafka_consume, "rabbitmq": rabbit_consume, "mqtt": mqtt_consume,
         "jetstream": lambda t, c, s: asyncio.run(nats_consume(t, c, s))}[a.kind](a.target, a.count, a.timeout)


if __name__ == "__main__":
    main()
