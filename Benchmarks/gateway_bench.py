#!/usr/bin/env python3
"""Gateway-mode rows of scripts/bench: one Courier serving many `App` resources.

    gateway_bench.py BIN WORK DURATION CONNS PORTBASE [COMPONENT-YAML-FILE] [LABEL]

Prints Markdown table rows, each beside a baseline measured in the same run:
  - delivery with 20 apps sharing the load (one topic each) beside 1 app taking all of it;
  - a healthy app's delivery beside three bad apps (one hangs, one refuses connections once it
    is live, one answers in 300 ms, each with its own backlog) beside the same app alone
    (GATEWAY_BENCH_BAD=hangs,refuses,slow picks which bad apps run);
  - time until every app's subscriptions are live, and idle RSS, with 1 and 50 apps of 4
    subscriptions each (RSS per added app = the difference / 49).
The component defaults to the embedded broker; with a component file only the start-up rows run
(a real broker's delivery rows are in the broker sections). Standard library only; wrk publishes.
"""
import json, os, subprocess, sys, time, urllib.request

BIN, WORK, DURATION, CONNS, BASE = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
COMPONENT = open(sys.argv[6]).read() if len(sys.argv) > 6 else """apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pubsub }
spec:
  type: pubsub.embedded
  version: v1
  metadata: []
"""
LABEL = sys.argv[7] if len(sys.argv) > 7 else "embedded"
START_ONLY = len(sys.argv) > 6
PAYLOAD = json.dumps({"orderId": 1, "payload": "x" * 990})
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


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return r.read()


def sink(port, mode=""):
    p = subprocess.Popen([f"{BIN}/BenchSink", str(port), "none"] + ([mode] if mode else []),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_port(port)
    return p


def app(id, port):
    return f"apiVersion: courier/v1alpha1\nkind: App\nmetadata: {{ name: {id} }}\nspec:\n  baseUrl: http://127.0.0.1:{port}\n"


def subscription(name, topic, app_id):
    return (f"apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {{ name: {name} }}\n"
            f"spec: {{ pubsubname: pubsub, topic: {topic}, routes: {{ default: /events }} }}\nscopes: [{app_id}]\n")


def courier(name, apps, port):
    """Starts Courier with `apps` = [(id, sink port, [topics])]; returns (process, start time)."""
    d = f"{WORK}/gw-{name}"
    os.makedirs(f"{d}/res", exist_ok=True)
    with open(f"{d}/res/pubsub.yaml", "w") as f:
        f.write(COMPONENT)
    docs = []
    for id, sport, topics in apps:
        with open(f"{d}/res/{id}.yaml", "w") as f:
            f.write(app(id, sport))
        docs += [subscription(f"{id}-{i}", t, id) for i, t in enumerate(topics)]
    with open(f"{d}/res/subscriptions.yaml", "w") as f:
        f.write("\n---\n".join(docs))
    t0 = time.time()
    p = subprocess.Popen([f"{BIN}/courier", "run", "--app-id", "gateway", "--dapr-http-port", str(port), "--metrics-port", str(port + 1),
                          "--dapr-grpc-port", str(port + 2), "--resources-path", f"{d}/res", "--data-dir", f"{d}/data", "--log-level", "error"],
                         stdout=open(f"{d}/courier.log", "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    wait_port(port)
    return p, t0


def wait_live(port, apps):
    """Waits until Courier is healthy (every app's subscriptions started: /v1.0/healthz answers
    204), then checks that each app lists at least its declarative subscriptions as live."""
    want = {id: len(topics) for id, _, topics in apps}
    deadline = time.time() + 120
    healthy = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1.0/healthz", timeout=5) as r:
                if r.status == 204:
                    healthy = time.time()
                    break
        except OSError:
            pass
        time.sleep(0.05)
    while time.time() < deadline:
        listed = json.loads(get(port, "/v1.0-alpha1/apps"))
        live = {a["id"]: len(a["subscriptions"]) for a in listed}
        if healthy and all(live.get(id, 0) >= n for id, n in want.items()):
            return healthy
        time.sleep(0.05)
    sys.exit("apps not live within 120 s")


def rss_kib(p):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


def e2e(port, topics, sink_port):
    """Publishes to `topics` (round robin) for DURATION with wrk, then waits until the sink has
    every event; delivered per second over the whole run."""
    lua = f"{WORK}/gw-topics-{port}.lua"
    with open(lua, "w") as f:
        paths = ", ".join(f'"/v1.0/publish/pubsub/{t}"' for t in topics)
        f.write(f'local paths = {{{paths}}}\nlocal i = 0\nlocal body = [[{PAYLOAD}]]\n'
                'request = function() i = i + 1; return wrk.format("POST", paths[(i % #paths) + 1], '
                '{["Content-Type"] = "application/json"}, body) end\n')
    before = int(get(sink_port, "/count"))
    start = time.time()
    out = subprocess.run(["wrk", "-t2", f"-c{CONNS}", f"-d{DURATION}s", "-s", lua, f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True).stdout
    published = int(next(l for l in out.splitlines() if "requests in" in l).split()[0])
    errors = next((int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l), 0)
    target = before + published - errors
    deadline = time.time() + 120
    while int(get(sink_port, "/count")) < target and time.time() < deadline:
        time.sleep(0.05)
    delivered = int(get(sink_port, "/count")) - before
    return round(delivered / (time.time() - start)), delivered, published - errors


def stop(p):
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


def main():
    port = BASE
    rows = []
    if not START_ONLY:
        # 1 app taking all the load vs 20 apps sharing it (one topic each).
        good = sink(port + 90)
        one, _ = courier("one", [("solo", port + 90, ["gw-solo"])], port)
        wait_live(port, [("solo", port + 90, ["gw-solo"])])
        alone, d1, p1 = e2e(port, ["gw-solo"], port + 90)
        stop(one)
        twenty_apps = [(f"a{i}", port + 90, [f"gw-{i}"]) for i in range(20)]
        twenty, _ = courier("twenty", twenty_apps, port + 10)
        wait_live(port + 10, twenty_apps)
        shared, d20, p20 = e2e(port + 10, [f"gw-{i}" for i in range(20)], port + 90)
        stop(twenty)
        rows.append(f"| gateway: 20 apps sharing the load (one topic each), delivered ({d20}/{p20}) | {shared} | 1 app taking it all: {alone} ({d1}/{p1}) | {ratio(shared, alone)} |")

        # Isolation: the healthy app beside one that hangs, one that refuses connections and one
        # that answers in 300 ms, each with a backlog of its own to fail on; alternated with the
        # same app alone, three rounds each, medians reported (single runs move by ±10 %).
        beside_runs, alone_runs = [], []
        for r in range(3):
            hang, slow, refusing = sink(port + 91, "hang"), sink(port + 92, "slow"), sink(port + 93)
            bad = [("hangs", port + 91, [f"iso-hang{r}"]), ("refuses", port + 93, [f"iso-refuse{r}"]), ("slow", port + 92, [f"iso-slow{r}"])]
            picked = os.environ.get("GATEWAY_BENCH_BAD", "hangs,refuses,slow").split(",")
            bad = [b for b in bad if b[0] in picked]
            apps = [("healthy", port + 90, [f"iso-ok{r}"])] + bad
            iso, _ = courier(f"iso{r}", apps, port + 20)
            wait_live(port + 20, apps)
            stop(refusing)  # live, then gone: every delivery to it is refused from here on
            for _, _, (topic,) in bad:
                body = json.dumps([{"entryId": str(i), "event": {"n": i}, "contentType": "application/json"} for i in range(100)]).encode()
                for _ in range(20):
                    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port + 20}/v1.0/publish/bulk/pubsub/{topic}", body,
                                                                  {"Content-Type": "application/json"}), timeout=30).read()
            beside_runs.append(e2e(port + 20, [f"iso-ok{r}"], port + 90)[0])
            stop(iso)
            for p in (hang, slow):
                stop(p)
            solo, _ = courier(f"isosolo{r}", [("healthy", port + 90, [f"iso-alone{r}"])], port + 30)
            wait_live(port + 30, [("healthy", port + 90, [f"iso-alone{r}"])])
            alone_runs.append(e2e(port + 30, [f"iso-alone{r}"], port + 90)[0])
            stop(solo)
        stop(good)
        beside, alone2 = sorted(beside_runs)[1], sorted(alone_runs)[1]
        rows.append(f"| gateway isolation: a healthy app's delivered/s beside apps that hang, refuse connections, answer in 300 ms (median of 3: {beside_runs}) | {beside} | the same app alone, alternated: {alone2} ({alone_runs}) | {ratio(beside, alone2)} |")

    # Start-up and idle memory: 1 app vs 50 apps, 4 subscriptions each.
    s = sink(port + 95)
    figures = {}
    for n in (1, 50):
        apps = [(f"s{i}", port + 95, [f"st{n}-{i}-{j}" for j in range(4)]) for i in range(n)]
        p, t0 = courier(f"start{n}", apps, port + 40 + n)
        live = wait_live(port + 40 + n, apps) - t0
        time.sleep(2)
        figures[n] = (live, rss_kib(p))
        stop(p)
    stop(s)
    (l1, r1), (l50, r50) = figures[1], figures[50]
    rows.append(f"| gateway ({LABEL}): time until 50 apps × 4 subscriptions are live | {l50:.1f} s | 1 app × 4: {l1:.1f} s | aim ≤ 10 s |")
    rows.append(f"| gateway ({LABEL}): idle RSS with 50 apps × 4 subscriptions | {r50 // 1024} MiB | 1 app: {r1 // 1024} MiB | {(r50 - r1) / 49 / 1024:.2f} MiB per added app (aim ≤ 1) |")
    print("\n".join(rows))


try:
    main()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
