"""How fast can a Python consumer read a backlog at all? Faust's per-event stream vs aiokafka batches.

    python benchmarks/consumer_ceiling.py --events 200000

Produces ``--events`` records of ~170 bytes (8 partitions, 20,000 keys) to a fresh topic,
then reads the backlog three ways, each in its own process and consumer group, doing
nothing with the records:
(1) baseline: kafka-python ``poll`` (the read baseline of throughput.py, without decoding);
(2) aiokafka ``getmany(max_records=5000)`` (what segstream's batch consumer uses);
(3) a Faust agent iterating ``stream.take_events(1000, within=0.2)`` (what the worker used
    up to issue 6).
Rates are records/s from the first batch received to the last. Needs Kafka (`make up`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from segstream.config import load_settings
from segstream.streams.security import client_kwargs

SETTINGS = load_settings()  # the SEGSTREAM_* environment: bootstrap servers, TLS and SASL
BOOTSTRAP = SETTINGS.kafka_bootstrap.split(",")[0]
VALUE = b'{"event_id":"e1","customer_id":"c123","ts":"2024-01-01T00:00:00+00:00","action":"login","quantity":1.0}'

FAUST_APP = """
import os, sys, time, faust
from segstream.config import load_settings
from segstream.streams.security import faust_credentials
topic_name, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.argv = [sys.argv[0], "worker", "-l", "warn"]
app = faust.App("ceiling-" + topic_name, broker="kafka://BOOTSTRAP", store="memory://", key_serializer="raw",
                broker_credentials=faust_credentials(load_settings()),
                value_serializer="raw", web_enabled=False, consumer_auto_offset_reset="earliest")
seen = {"n": 0, "t0": None}

@app.agent(app.topic(topic_name, key_serializer="raw", value_serializer="raw"))
async def count(stream):
    async for events in stream.take_events(1000, within=0.2):
        seen["t0"] = seen["t0"] or time.perf_counter()
        seen["n"] += len(events)
        if seen["n"] >= n:
            open(out, "w").write(str(seen["n"] / (time.perf_counter() - seen["t0"])))
            os._exit(0)

app.main()
""".replace("BOOTSTRAP", BOOTSTRAP)

AIOKAFKA = """
import asyncio, sys, time
from aiokafka import AIOKafkaConsumer
from segstream.config import load_settings
from segstream.streams.security import client_kwargs
topic_name, n = sys.argv[1], int(sys.argv[2])
async def main():
    c = AIOKafkaConsumer(topic_name, bootstrap_servers="BOOTSTRAP", group_id="ceiling-aio-" + topic_name,
                         auto_offset_reset="earliest", enable_auto_commit=False, **client_kwargs(load_settings()))
    await c.start()
    got, t0 = 0, None
    while got < n:
        for recs in (await c.getmany(timeout_ms=1000, max_records=5000)).values():
            t0 = t0 or time.perf_counter()
            got += len(recs)
    print(got / (time.perf_counter() - t0))
    await c.stop()
asyncio.run(main())
""".replace("BOOTSTRAP", BOOTSTRAP)


def kafka_python(topic: str, n: int) -> float:
    c = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=f"ceiling-kp-{topic}",
                      auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000,
                      **client_kwargs(SETTINGS))  # fmt: skip
    got, t0 = 0, 0.0
    while got < n:
        for recs in c.poll(timeout_ms=1000).values():
            t0 = t0 or time.perf_counter()
            got += len(recs)
    c.close()
    return got / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    topic = f"ceiling-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, **client_kwargs(SETTINGS))
    admin.create_topics([NewTopic(topic, 8, 1)])
    try:
        p = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=20, batch_size=256 * 1024, **client_kwargs(SETTINGS))
        for i in range(a.events):
            p.send(topic, key=b"c%d" % (i % 20_000), value=VALUE)
        p.flush()
        p.close()
        base = kafka_python(topic, a.events)
        aio = float(subprocess.run([sys.executable, "-c", AIOKAFKA, topic, str(a.events)], check=True,
                                   capture_output=True, text=True, timeout=600).stdout)  # fmt: skip
        out = Path(f"/tmp/{topic}.rate")
        subprocess.run([sys.executable, "-c", FAUST_APP, topic, str(a.events), str(out)], timeout=600,
                       capture_output=True, cwd="/tmp", env=os.environ.copy())  # fmt: skip
        faust_rate = float(out.read_text())
        out.unlink()
    finally:
        admin.delete_topics([topic])
        admin.close()
    result = {
        "events": a.events,
        "kafka_python_poll_per_s": round(base),
        "aiokafka_getmany_per_s": round(aio),
        "faust_take_events_per_s": round(faust_rate),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for k, v in result.items():
        print(f"{k:28} {v}")
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
