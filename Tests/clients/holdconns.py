#!/usr/bin/env python3
"""Holds TCP connections to a local port, outside the test process (whose own descriptor count
must stay low: libmosquitto's select() cannot use descriptors past 1,024).

    holdconns.py PORT COUNT [--idle] [--interval SECONDS]

Opens COUNT connections to 127.0.0.1:PORT; with --idle each first sends one health request and
reads its answer (an idle keep-alive connection); --interval waits between connections. Prints
"ready COUNT" once all are open (the count that connected), then holds them until stdin closes.
"""
import socket, sys, time

port, count = int(sys.argv[1]), int(sys.argv[2])
idle = "--idle" in sys.argv
interval = float(sys.argv[sys.argv.index("--interval") + 1]) if "--interval" in sys.argv else 0
held = []
for _ in range(count):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if idle:
            s.sendall(b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(512)
        held.append(s)
    except OSError:
        pass
    if interval:
        time.sleep(interval)
print(f"ready {len(held)}", flush=True)
sys.stdin.read()
for s in held:
    s.close()
