#!/usr/bin/env python3
"""The official Dapr Python SDK (`dapr`), as its users write it, against Courier's gRPC port.

    sdk_client.py publish PUBSUB TOPIC        JSON, text and rawPayload events through publish_event
    sdk_client.py publish_events PUBSUB TOPIC three events through publish_events (bulk)
    sdk_client.py binding NAME                invoke_binding create, then get, of key "sdk-key"
    sdk_client.py error PUBSUB TOPIC          a publish that must fail; prints the gRPC status code
    sdk_client.py stream PUBSUB TOPIC N       a streaming subscription: the event with n == 1 is answered
                                              RETRY the first time, n == 2 DROP, the rest SUCCESS, until
                                              N events were answered SUCCESS or DROP; then close
    sdk_client.py stream_abandon PUBSUB TOPIC reads one event, closes without answering it

DAPR_GRPC_PORT, DAPR_HTTP_PORT and DAPR_API_TOKEN come from the environment, as for any Dapr app.
Prints one JSON line per result.
"""
import json
import sys

from dapr.clients import DaprClient


def out(obj):
    print(json.dumps(obj), flush=True)


def main():
    action = sys.argv[1]
    with DaprClient() as client:
        if action == "publish":
            pubsub, topic = sys.argv[2], sys.argv[3]
            client.publish_event(pubsub_name=pubsub, topic_name=topic, data=json.dumps({"kind": "json"}),
                                 data_content_type="application/json")
            client.publish_event(pubsub_name=pubsub, topic_name=topic, data="plain words")
            client.publish_event(pubsub_name=pubsub, topic_name=topic, data=json.dumps({"kind": "raw"}),
                                 data_content_type="application/json", publish_metadata={"rawPayload": "true"})
            out({"published": 3})
        elif action == "publish_events":
            pubsub, topic = sys.argv[2], sys.argv[3]
            response = client.publish_events(pubsub_name=pubsub, topic_name=topic,
                                             data=[json.dumps({"bulk": i}) for i in range(3)], data_content_type="application/json")
            out({"failed": [e.entry_id for e in response.failed_entries]})
        elif action == "binding":
            name = sys.argv[2]
            created = client.invoke_binding(name, "create", data=b'{"sdk":true}', binding_metadata={"key": "sdk-key"})
            got = client.invoke_binding(name, "get", binding_metadata={"key": "sdk-key"})
            out({"created": created.data.decode(), "got": got.data.decode()})
        elif action == "stream":
            pubsub, topic, wanted = sys.argv[2], sys.argv[3], int(sys.argv[4])
            subscription = client.subscribe(pubsub_name=pubsub, topic=topic, dead_letter_topic=topic + "-dead")
            out({"subscribed": True})
            done, retried = 0, set()
            try:
                while done < wanted:
                    message = subscription.next_message()
                    data = message.data()
                    n = data.get("n") if isinstance(data, dict) else None
                    if n == 1 and message.id() not in retried:
                        retried.add(message.id())
                        subscription.respond_retry(message)
                        out({"n": n, "id": message.id(), "answer": "RETRY"})
                        continue
                    if n == 2:
                        subscription.respond_drop(message)
                        out({"n": n, "id": message.id(), "answer": "DROP"})
                    else:
                        subscription.respond_success(message)
                        out({"n": n, "id": message.id(), "answer": "SUCCESS", "type": message.data_content_type(), "topic": message.topic()})
                    done += 1
            finally:
                subscription.close()
        elif action == "stream_ordered":
            pubsub, topic, wanted = sys.argv[2], sys.argv[3], int(sys.argv[4])
            subscription = client.subscribe(pubsub_name=pubsub, topic=topic, metadata={"orderingKey": "event.data.key"},
                                            dead_letter_topic=topic + "-dead")
            out({"subscribed": True})
            accepted, retried = 0, set()
            try:
                while accepted < wanted:
                    message = subscription.next_message()
                    data = message.data()
                    key, seq = data.get("key"), data.get("seq")
                    if seq % 3 == 1 and (key, seq) not in retried:
                        retried.add((key, seq))
                        subscription.respond_retry(message)
                        continue
                    subscription.respond_success(message)
                    out({"key": key, "seq": seq})
                    accepted += 1
            finally:
                subscription.close()
        elif action == "stream_abandon":
            subscription = client.subscribe(pubsub_name=sys.argv[2], topic=sys.argv[3])
            message = subscription.next_message()
            out({"id": message.id(), "data": message.data()})
            subscription.close()
        elif action == "error":
            try:
                client.publish_event(pubsub_name=sys.argv[2], topic_name=sys.argv[3], data="x")
                out({"code": "OK"})
            except Exception as e:  # DaprGrpcError wraps the grpc.RpcError
                code = e.code() if hasattr(e, "code") and callable(e.code) else None
                out({"code": getattr(code, "name", str(code)), "message": str(e)[:300]})


if __name__ == "__main__":
    main()
