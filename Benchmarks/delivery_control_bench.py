#!/usr/bin/env python3
"""Delivery-control rows of scripts/bench (embedded broker), each beside a baseline measured in
the same run:
  - ordered delivery (orderingKey over 100 keys, maxConcurrency 16) draining a backlog, beside
    the same drain unordered (maxConcurrency 16);
  - a redrive of dead letters to their subscription, beside that subscription draining the same
    number of events from its topic.

    delivery_control_bench.py BIN WORK PORTBASE [EVENTS]

A backlog is published first (bulk, 100 per request) while no subscription exists; the
subscription is then added and Courier told to reload (SIGHUP), and the time until the sink has
every event is measured. Standard library only.
"""
import json, os, signal, subprocess, sys, time, urllib.request

BIN, WORK, BASE = sys.argv[1], sys.argv[2], int(sys.argv[3])
EVENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 20_000
# A subscription added after its backlog was published reads it from the oldest event.
COMPONENT = ("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: pubsub }\nspec:\n  type: pubsub.embedded\n  version: v1\n"
             "  metadata:\n  - { name: initialOffset, value: oldest }\n")
procs = []


def wait_port(port, timeout=30):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


def call(port, path, body=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None


def start(name, port, sink_port):
    d = f"{WORK}/dc-{name}"
    os.makedirs(f"{d}/res", exist_ok=True)
    with open(f"{d}/res/pubsub.yaml", "w") as f:
        f.write(COMPONENT)
    p = subprocess.Popen([f"{BIN}/courier", "run", "--app-id", "bench", "--app-port", str(sink_port), "--dapr-http-port", str(port),
                          "--metrics-port", str(port + 1), "--dapr-grpc-port", str(port + 2), "--resources-path", f"{d}/res",
                          "--data-dir", f"{d}/data", "--log-level", "error"],
                         stdout=open(f"{d}/courier.log", "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    wait_port(port)
    return p, d


def subscribe(courier, d, topic, route="/events", metadata=None, dead=None):
    md = "".join(f"\n    {k}: \"{v}\"" for k, v in (metadata or {}).items())
    spec = (f"apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {{ name: s }}\nspec:\n  pubsubname: pubsub\n  topic: {topic}\n"
            f"  routes: {{ default: {route} }}\n" + (f"  deadLetterTopic: {dead}\n" if dead else "") + (f"  metadata:{md}\n" if md else ""))
    with open(f"{d}/res/sub.yaml", "w") as f:
        f.write(spec)
    courier.send_signal(signal.SIGHUP)


def fill(port, topic):
    for start in range(0, EVENTS, 100):
        entries = [{"entryId": str(i), "event": {"key": f"k{i % 100}", "n": i, "payload": "x" * 960}, "contentType": "application/json"}
                   for i in range(start, min(start + 100, EVENTS))]
        call(port, f"/v1.0-alpha1/publish/bulk/pubsub/{topic}", entries)


def count(sink_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/count", timeout=10) as r:
        return int(r.read())


def drain_rate(sink_port, before, t0):
    deadline = time.time() + 120
    while count(sink_port) < before + EVENTS and time.time() < deadline:
        time.sleep(0.02)
    if count(sink_port) < before + EVENTS:
        sys.exit(f"drained {count(sink_port) - before} of {EVENTS} within 120 s")
    return round((count(sink_port) - before) / (time.time() - t0))


def stop(p):
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def main():
    sink_port = BASE + 90
    sink = subprocess.Popen([f"{BIN}/BenchSink", str(sink_port), "none"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(sink)
    wait_port(sink_port)
    rows = []

    # Ordered vs unordered drains, alternated, three rounds each; medians.
    ordered, unordered = [], []
    for r in range(3):
        for mode in ("unordered", "ordered"):
            courier, d = start(f"{mode}{r}", BASE, sink_port)
            topic = f"dc-{mode}-{r}"
            fill(BASE, topic)
            before = count(sink_port)
            t0 = time.time()
            md = {"maxConcurrency": "16"} | ({"orderingKey": "event.data.key"} if mode == "ordered" else {})
            subscribe(courier, d, topic, metadata=md)
            (ordered if mode == "ordered" else unordered).append(drain_rate(sink_port, before, t0))
            stop(courier)
    o, u = sorted(ordered)[1], sorted(unordered)[1]
    rows.append(f"| ordered delivery (orderingKey, 100 keys, maxConcurrency 16), {EVENTS:,} × 1 KiB backlog drained/s (median of 3: {ordered}) "
                f"| {o} | unordered, maxConcurrency 16: {u} ({unordered}) | {ratio(o, u)} |")

    # Redrive: every event dead-lettered (a route the sink does not have: 404), then the route
    # fixed and the dead letters redriven to the subscription, as fast as it goes.
    courier, d = start("redrive", BASE + 10, sink_port)
    topic, dead = "dc-redrive", "dc-redrive-dead"
    subscribe(courier, d, topic, route="/missing", dead=dead, metadata={"maxConcurrency": "16"})
    time.sleep(1)
    fill(BASE + 10, topic)
    deadline = time.time() + 300
    while time.time() < deadline:
        listed = call(BASE + 10, f"/v1.0-alpha1/deadletters/pubsub/{dead}?limit=1000")
        after, n = listed.get("next"), len(listed["events"])
        while after:
            page = call(BASE + 10, f"/v1.0-alpha1/deadletters/pubsub/{dead}?limit=1000&after={after}")
            n += len(page["events"])
            after = page.get("next")
        if n >= EVENTS:
            break
        time.sleep(0.2)
    subscribe(courier, d, topic, route="/events", dead=dead, metadata={"maxConcurrency": "16"})
    time.sleep(1.5)
    before = count(sink_port)
    t0 = time.time()
    job = call(BASE + 10, f"/v1.0-alpha1/deadletters/pubsub/{dead}/redrive", {"maxPerSecond": 1e9})["id"]
    while call(BASE + 10, f"/v1.0-alpha1/deadletters/pubsub/{dead}/redrive/{job}")["state"] == "running":
        time.sleep(0.02)
    redriven = call(BASE + 10, f"/v1.0-alpha1/deadletters/pubsub/{dead}/redrive/{job}")["redriven"]
    redrive_rate = round((count(sink_port) - before) / (time.time() - t0))
    # Baseline: the same subscription draining as many events from its topic.
    fill(BASE + 10, f"{topic}-plain")
    before = count(sink_port)
    t0 = time.time()
    subscribe(courier, d, f"{topic}-plain", metadata={"maxConcurrency": "16"})
    plain = drain_rate(sink_port, before, t0)
    stop(courier)
    stop(sink)
    rows.append(f"| redrive of {redriven:,} dead letters to their subscription (maxConcurrency 16), delivered/s | {redrive_rate} "
                f"| the subscription draining as many from its topic: {plain} | {ratio(redrive_rate, plain)} |")
    print("\n".join(rows))


try:
    main()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
