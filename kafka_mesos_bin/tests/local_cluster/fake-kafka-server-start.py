#!/usr/bin/env python3
# Stands in for bin/kafka-server-start.sh of an Apache Kafka distribution in the tests: records
# what a real Kafka would receive (its arguments, the environment the Kafka scripts read and the
# server.properties it is given) in record.json in its working directory, then serves the port
# of the first listener and answers Kafka ApiVersions (v0) requests, as a broker that is up does.
# Two settings, given to a broker with --options, make it misbehave for the fault tests:
# fake.exit=N exits with status N right after recording; fake.delay=S waits S seconds before it
# listens (a broker that is slow to come up).
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

props_path = sys.argv[1]
props = {}
with open(props_path) as f:
    text = f.read()
for line in text.splitlines():
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        key, value = line.split("=", 1)
        props[key] = value
port = int(props["listeners"].split(",")[0].rsplit(":", 1)[1])
record = {
    "args": sys.argv[1:],
    "env": {k: os.environ.get(k) for k in ("KAFKA_HEAP_OPTS", "KAFKA_OPTS", "LOG_DIR", "KAFKA_LOG4J_OPTS")},
    "properties": props,
    "properties_text": text,
}
with open("record.json.tmp", "w") as f:
    json.dump(record, f)
os.replace("record.json.tmp", "record.json")
print("fake kafka on port %d" % port, flush=True)

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

if "fake.exit" in props:
    print("fake kafka failing on purpose", file=sys.stderr, flush=True)
    sys.exit(int(props["fake.exit"]))
if "fake.delay" in props:
    time.sleep(float(props["fake.delay"]))
    print("fake kafka listening after a delay", flush=True)


def serve(conn):
    with conn:
        while True:
            head = conn.recv(4)
            if len(head) < 4:
                return
            (size,) = struct.unpack(">i", head)
            body = b""
            while len(body) < size:
                chunk = conn.recv(size - len(body))
                if not chunk:
                    return
                body += chunk
            correlation_id = body[4:8]
            # ApiVersions v0 answer: correlation id, error code 0, no api keys.
            reply = correlation_id + struct.pack(">hi", 0, 0)
            conn.sendall(struct.pack(">i", len(reply)) + reply)


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", port))
server.listen(16)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
