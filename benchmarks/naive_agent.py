"""Baseline (a) of issue 7: a naive Faust agent, one event at a time, against the same backlog.

    python benchmarks/naive_agent.py --events 200000 --customers 20000 --mix mixed
    python benchmarks/throughput.py --events 200000 --customers 20000 --mix mixed --naive   # side by side

What a first attempt at streaming segmentation looks like: one Faust agent per input topic
(faust-streaming, configured like segstream's app: raw serializers, memory store), iterating
event by event. For every event it decodes the JSON (msgspec), GETs the customer's small
state from Redis (a JSON string under its own key prefix), updates RFM-ish counters, runs
one River ``StandardScaler | KMeans(n_clusters=6, seed=42)`` ``learn_one`` + ``predict_one``
on the customer's feature dict, SETs the state back (with an INCR of the applied-events
counter in the same pipelined round trip: so two Redis round trips per event, read then
write, and no atomicity), and sends a segment-change record to its own output topic when
the customer's cluster changes. No batching, no event time, no replay protection.

As a driver (this command line): create isolated topics, produce the same simulated backlog
as throughput.py (same simulator, seed and start), then (1) the read+decode baseline of
throughput.py and (2) this agent as a subprocess; its rate is taken between 10% and 90% of
the events applied (from its INCR counter), peak RSS from /proc. As a Faust app it is started
by the driver with ``python benchmarks/naive_agent.py worker -l warn --without-web`` and reads the
``SEGSTREAM_*`` settings of the run from its environment.
Needs Kafka and Redis running (`make up`). Prints a table; --json appends one line to a file.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from segstream.config import Settings
from segstream.streams.security import faust_credentials

KINDS = ("purchases", "usage", "feedback", "profiles")
OUTPUT = "naive-changes"  # + the run's topic suffix


def applied_key(s: Settings) -> str:
    return f"{s.redis_prefix}:naive:applied"


def output_topic(s: Settings) -> str:
    return OUTPUT + s.topic_suffix


def build_app(s: Settings):  # type: ignore[no-untyped-def]
    """The naive Faust app: one agent per input topic, one event at a time."""
    import faust
    import msgspec
    import redis.asyncio as aioredis
    from river import cluster, compose, preprocessing

    (harness.CACHE / "faust").mkdir(parents=True, exist_ok=True)  # Faust creates one level only
    app = faust.App(
        s.app_id,
        broker=[f"kafka://{hp.strip()}" for hp in s.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(s),
        store="memory://",
        datadir=str(harness.CACHE / "faust" / f"{s.app_id}-data"),
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=s.partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=2,
        web_enabled=False,
    )
    out = app.topic(output_topic(s), key_type=bytes, value_type=bytes, partitions=s.partitions)
    model = compose.Pipeline(preprocessing.StandardScaler(), cluster.KMeans(n_clusters=6, seed=42))
    clients: list[aioredis.Redis] = []
    counter = applied_key(s)

    def redis_client() -> aioredis.Redis:
        if not clients:  # created on the worker's event loop, at the first event
            clients.append(aioredis.Redis.from_url(s.redis_url))
        return clients[0]

    def ts_days(iso: str) -> float:
        return datetime.fromisoformat(iso).timestamp() / 86_400

    async def handle(kind: str, raw: bytes) -> None:
        ev = msgspec.json.decode(raw)
        cid = ev["customer_id"]
        r = redis_client()
        key = f"{s.redis_prefix}:naive:c:{cid}"
        blob = await r.get(key)
        st = msgspec.json.decode(blob) if blob else {"n": 0, "spend": 0.0, "last": 0.0, "first": 0.0,
                                                     "usage": 0, "fb": 0, "score": 0.0, "cluster": None}  # fmt: skip
        day = ts_days(ev["ts"])
        st["first"] = st["first"] or day
        if kind == "purchases":
            st["n"] += 1
            st["spend"] += float(ev["amount"])
            st["last"] = max(st["last"], day)
        elif kind == "usage":
            st["usage"] += 1
        elif kind == "feedback" and ev.get("score") is not None:
            st["fb"] += 1
            st["score"] += float(ev["score"])
        tenure = max(1.0, day - st["first"])
        x = {
            "recency": day - (st["last"] or st["first"]),
            "frequency": st["n"] * 30 / tenure,
            "monetary": math.log1p(st["spend"]),
            "usage": st["usage"] * 30 / tenure,
            "satisfaction": st["score"] / st["fb"] if st["fb"] else 0.0,
        }
        model.learn_one(x)
        label = f"k{model.predict_one(x)}"
        if label != st["cluster"]:
            change = {"customer_id": cid, "dimension": "cluster", "from": st["cluster"], "to": label,
                      "event_id": ev["event_id"], "ts": ev["ts"]}  # fmt: skip
            await out.send(key=cid.encode(), value=msgspec.json.encode(change))
            st["cluster"] = label
        pipe = r.pipeline(transaction=False)
        pipe.set(key, msgspec.json.encode(st))
        pipe.incr(counter)
        await pipe.execute()

    def register(kind: str) -> None:
        topic = app.topic(s.topic(kind), key_type=bytes, value_type=bytes)

        async def agent(stream):  # type: ignore[no-untyped-def]
            async for raw in stream:
                await handle(kind, raw)

        agent.__name__ = f"naive_{kind}"
        app.agent(topic, name=f"naive-{kind}")(agent)

    for kind in KINDS:
        register(kind)
    return app


def run_naive(s: Settings, total: int, timeout: float) -> dict[str, float]:
    """Run the naive agent (its own consumer group and key prefix) over ``s``'s input topics
    until it applied ``total`` events; its sustained events/s, wall time and peak RSS."""
    import redis

    harness.create_topic(s, output_topic(s), s.partitions)
    r = redis.Redis.from_url(s.redis_url)
    proc, log = harness.start(
        [sys.executable, __file__, "worker", "-l", "warn", "--without-web"], harness.env_for(s), f"naive-{s.app_id}.log"
    )
    try:
        samples = harness.wait_applied(
            lambda: int(r.get(applied_key(s)) or 0), total, timeout, lambda: proc.poll() is None,
            f"naive agent (log {log})",
        )  # fmt: skip
        rss = harness.rss_peak_mb(proc.pid)
    finally:
        harness.stop(proc)
        r.close()
    sustained, wall = harness.sustained_rate(samples, total)
    return {"events_per_s": sustained, "wall_s": wall, "peak_rss_mb": rss}


def main() -> None:
    import argparse
    import json
    import uuid

    import throughput

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--mix", choices=["mixed", "purchases"], default="mixed")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--label", default="")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    harness.exit_on_sigterm()

    tag, s = harness.isolated_settings("naive", partitions=a.partitions)
    with harness.cleaned_up(s, tag):
        n, kinds, produce_rate = throughput.produce_backlog(s, a.events, a.customers, a.mix)
        base = throughput.baseline_read(s, kinds, n)
        naive = run_naive(s.model_copy(update={"app_id": f"naive-{tag}-agent"}), n, a.timeout)
    result = {
        "label": a.label or f"naive agent, {a.mix} {n} events {a.customers} customers",
        "events": n,
        "customers": a.customers,
        "mix": a.mix,
        "partitions": a.partitions,
        "produce_events_per_s": round(produce_rate),
        "baseline_read_decode_events_per_s": round(base),
        "naive_agent_events_per_s": round(naive["events_per_s"]),
        "naive_agent_wall_s": round(naive["wall_s"], 2),
        "naive_agent_peak_rss_mb": round(naive["peak_rss_mb"], 1),
        "run": uuid.uuid4().hex[:8],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    rate = naive["events_per_s"]
    rows = [
        ["read + decode baseline (kafka-python, no Redis, no model)", f"{base:,.0f}", "100%", ""],
        ["naive Faust agent (per event: Redis GET + SET, River)", f"{rate:,.0f}", f"{rate / base:.0%}",
         f"{naive['peak_rss_mb']:.0f} MB"],
    ]  # fmt: skip
    print(harness.table(rows, ["consumer (same backlog)", "events/s", "of baseline", "peak RSS"]))
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        from segstream.config import load_settings

        build_app(load_settings()).main()
    else:
        main()
