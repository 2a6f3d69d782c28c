#!/usr/bin/env python3
"""Runs one mq-bridge route for scripts/bench, as the Rust peer Courier is compared with.

    mqbridge_route.py http-to-redis PORT REDIS_URL STREAM
        HTTP POST on 127.0.0.1:PORT → XADD to STREAM (what Courier's publish row does)
    mqbridge_route.py redis-to-http REDIS_URL STREAM GROUP SINK_URL
        Redis Stream consumer group → HTTP POST to SINK_URL (what Courier's delivery row does)
    mqbridge_route.py fill REDIS_URL STREAM COUNT EVENT_FILE
        writes COUNT copies of the JSON in EVENT_FILE to STREAM in mq-bridge's own format, then exits

Routes block until killed.
"""
import sys
import json
from mq_bridge import Publisher, Route


def main():
    mode = sys.argv[1]
    if mode == "http-to-redis":
        port, redis, stream = sys.argv[2], sys.argv[3], sys.argv[4]
        config = {
            "input": {"http": {"url": f"127.0.0.1:{port}"}},
            "output": {"redis_streams": {"url": redis, "stream": stream}},
            "concurrency": 32,
        }
    elif mode == "redis-to-http":
        redis, stream, group, sink = sys.argv[2:6]
        config = {
            "input": {"redis_streams": {"url": redis, "stream": stream, "group": group, "read_from_start": True}},
            "output": {"http": {"url": sink}},
            "concurrency": 32,
        }
    elif mode == "fill":
        redis, stream, count, event = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        payload = json.load(open(event))
        publisher = Publisher.from_config({"redis_streams": {"url": redis, "stream": stream}})
        for _ in range(count):
            publisher.send_json(payload)
        return
    else:
        sys.exit(f"unknown mode {mode}")
    Route.from_config(config).run()


if __name__ == "__main__":
    main()
