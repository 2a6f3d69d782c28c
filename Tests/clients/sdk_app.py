#!/usr/bin/env python3
"""Subscriber apps written with the official Dapr Python SDK, as its users write them.

    sdk_app.py grpc PORT PUBSUB TOPIC BINDING   a dapr.ext.grpc.App: subscribes to TOPIC (dead letters to
                                                TOPIC-dead, which it also subscribes to), to TOPIC-rules with a
                                                CEL rule routed to its own handler, to TOPIC-bulkhandler (the
                                                target of a declarative bulk subscription), and reads input
                                                binding BINDING
    sdk_app.py flask PORT PUBSUB TOPIC          a Flask app wrapped in dapr.ext.flask.DaprApp, subscribed to TOPIC
                                                (dead letters to TOPIC-dead, also subscribed)

Each event's data is JSON {"n": N, "mode": M}; the handler answers by mode: "ok" SUCCESS, "retry" RETRY
the first time it sees that n, "drop" DROP, "raise" raises the first time it sees that n. Every call is
written as one JSON line (what arrived and the answer) to the file named by SDK_APP_OUT (default stdout).
The gRPC app answers Dapr's health check, failing it while the file named by SDK_APP_UNHEALTHY exists.
"""
import json
import os
import sys
import threading

seen = set()
lock = threading.Lock()


OUT = open(os.environ["SDK_APP_OUT"], "a", buffering=1) if os.environ.get("SDK_APP_OUT") else sys.stdout


def out(obj):
    with lock:
        OUT.write(json.dumps(obj) + "\n")
        OUT.flush()


def first_time(key):
    with lock:
        if key in seen:
            return False
        seen.add(key)
        return True


def decide(data, topic):
    """The answer for one event, and whether to raise instead."""
    mode, n = data.get("mode"), data.get("n")
    if mode == "retry" and first_time(("retry", topic, n)):
        return "RETRY"
    if mode == "drop":
        return "DROP"
    if mode == "raise" and first_time(("raise", topic, n)):
        return "RAISE"
    return "SUCCESS"


def run_grpc(port, pubsub, topic, binding):
    from dapr.clients.grpc._response import TopicEventResponse
    from dapr.ext.grpc import App, BindingRequest, Rule

    app = App()

    def handle(event, route):
        content_type = event.ContentType() or ""
        data = json.loads(event.Data()) if "json" in content_type else event.Data().decode()
        body = data if isinstance(data, dict) else {"text": data}
        answer = decide(body, event.Subject())
        out({"route": route, "topic": event.Subject(), "id": event.EventID(), "type": event.EventType(),
             "contentType": content_type, "data": data, "answer": answer,
             "traceparent": (event.Extensions() or {}).get("traceparent", "")})
        if answer == "RAISE":
            raise RuntimeError("handler failed")
        return TopicEventResponse(answer.lower())

    @app.subscribe(pubsub_name=pubsub, topic=topic, dead_letter_topic=topic + "-dead")
    def events(event):
        return handle(event, "default")

    @app.subscribe(pubsub_name=pubsub, topic=topic + "-dead")
    def dead(event):
        return handle(event, "dead")

    @app.subscribe(pubsub_name=pubsub, topic=topic + "-rules", rule=Rule('event.data.kind == "special"', 1))
    def special(event):
        return handle(event, "special")

    # Nothing is published to TOPIC-bulkhandler: a declarative bulk subscription to TOPIC-bulk routes
    # to the path "TOPIC-bulkhandler", which the SDK resolves to this handler (OnBulkTopicEvent).
    @app.subscribe(pubsub_name=pubsub, topic=topic + "-bulkhandler")
    def bulk(event):
        return handle(event, "bulk")

    # Dapr's gRPC app health check: unhealthy (the callback raises) while the file named by
    # SDK_APP_UNHEALTHY exists.
    def health():
        flag = os.environ.get("SDK_APP_UNHEALTHY")
        if flag and os.path.exists(flag):
            raise RuntimeError("unhealthy")

    app.register_health_check(health)

    @app.binding(binding)
    def on_binding(request: BindingRequest):
        out({"binding": binding, "data": request.text(), "metadata": {k: v for k, v in request.binding_metadata.items()}})

    out({"ready": True})
    app.run(port, listen_address="127.0.0.1")


def run_flask(port, pubsub, topic):
    from flask import Flask, jsonify, request
    from dapr.ext.flask import DaprApp

    app = Flask("sdk-flask")
    dapr_app = DaprApp(app)

    def handle(route):
        event = request.get_json(force=True)
        data = event.get("data")
        body = data if isinstance(data, dict) else {"text": data}
        answer = decide(body, event.get("topic"))
        out({"route": route, "topic": event.get("topic"), "id": event.get("id"), "type": event.get("type"),
             "contentType": event.get("datacontenttype"), "data": data, "answer": answer,
             "traceparent": request.headers.get("traceparent", "")})
        if answer == "RAISE":
            raise RuntimeError("handler failed")
        return jsonify({"status": answer})

    @dapr_app.subscribe(pubsub=pubsub, topic=topic, route="/flask-events", dead_letter_topic=topic + "-dead")
    def events():
        return handle("default")

    @dapr_app.subscribe(pubsub=pubsub, topic=topic + "-dead", route="/flask-dead")
    def dead():
        return handle("dead")

    out({"ready": True})
    app.run(host="127.0.0.1", port=port, threaded=True)


def main():
    kind, port, pubsub, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if kind == "grpc":
        run_grpc(port, pubsub, topic, sys.argv[5])
    else:
        run_flask(port, pubsub, topic)


if __name__ == "__main__":
    main()
