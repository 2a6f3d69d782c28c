#!/usr/bin/env python3
"""Runs one mq-bridge route for scripts/bench, as the Rust peer Courier is compared with.

    mqbridge_route.py http-to-redis PORT REDIS_URL STREAM
        HTTP POST on 127.0.0.1:PORT → XADD to STREAM (what Courier's publish row does)
    mqbridge_route.py redis-to-http REDIS_URL STREAM GROUP SINK_URL
        Redis Stream consumer group → HTTP POST to SINK_URL (what Courier's delivery row does)

Blocks until killed.
"""
import sys
from mq_bridge import Route


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
    else:
        sys.exit(f"unknown mode {mode}")
    Route.from_config(config).run()


if __name__ == "__main__":
    main()
