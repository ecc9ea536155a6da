"""Sustained worker throughput on a backlog, against a read-only baseline in the same run.

    python benchmarks/throughput.py --events 200000 --customers 20000 --mix mixed
    python benchmarks/throughput.py --mix purchases --worker-src /path/to/old/checkout/src

Steps: create isolated topics, produce N simulated events (untimed), then
(1) baseline: a kafka-python consumer reads and msgspec-decodes the same backlog, no Redis;
(2) a real `segstream worker` process (from --worker-src, default this checkout) consumes it.
The worker's rate is taken between 10% and 90% of the events applied (start-up excluded),
from its atomically-written Redis counters. Worker peak RSS is read from /proc.
Needs Kafka and Redis running (`make up`). Prints a table; --json appends one line to a file.
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
from itertools import islice
from pathlib import Path

import msgspec
import redis
from kafka import KafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segstream.config import Settings, load_settings  # noqa: E402
from segstream.feeders.producer import make_producer, send_events, topic_router  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.state.keys import Keys  # noqa: E402
from segstream.streams.schemas import INPUT_SCHEMAS  # noqa: E402
from segstream.streams.topics import create_topics  # noqa: E402


def env_for(s: Settings, src: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | s.as_env()
    env["PYTHONPATH"] = str(src)
    env["SEGSTREAM_LOG_LEVEL"] = "warn"
    return env


def baseline_read(s: Settings, kinds: list[str], total: int) -> float:
    decoders = {s.topic(k): msgspec.json.Decoder(INPUT_SCHEMAS[k]) for k in kinds}
    c = KafkaConsumer(
        *decoders,
        bootstrap_servers=s.kafka_bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-baseline-{uuid.uuid4().hex[:6]}",
        max_poll_records=2000,
    )
    n, t0 = 0, time.perf_counter()
    while n < total:
        for tp, recs in c.poll(timeout_ms=1000).items():
            dec = decoders[tp.topic]
            for r in recs:
                dec.decode(r.value)
            n += len(recs)
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(s: Settings, src: Path, total: int, timeout: float) -> tuple[float, float, float]:
    r = redis.Redis.from_url(s.redis_url)
    # every shard's counters, and the single hash a --worker-src from before sharding writes
    keys = Keys(s.redis_prefix, s.redis_shards)
    stats_keys = [f"{s.redis_prefix}:stats", *(keys.stats(i) for i in range(s.redis_shards))]
    log = open(ROOT / ".cache" / f"bench-worker-{s.app_id}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "segstream", "worker"], env=env_for(s, src), stdout=log, stderr=log, cwd=ROOT / ".cache"
    )
    samples: list[tuple[float, int]] = []
    t_start = time.perf_counter()
    try:
        while True:
            pipe = r.pipeline(transaction=False)
            for key in stats_keys:
                pipe.hgetall(key)
            n = sum(int(v) for h in pipe.execute() for k, v in h.items() if k.startswith(b"events:"))
            now = time.perf_counter()
            samples.append((now, n))
            if n >= total:
                break
            if now - t_start > timeout or proc.poll() is not None:
                raise SystemExit(f"worker did not finish: {n}/{total} applied (log {log.name})")
            time.sleep(0.05)
        rss = rss_peak_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    lo = next(t for t, n in samples if n >= 0.1 * total)
    hi = next(t for t, n in samples if n >= 0.9 * total)
    sustained = 0.8 * total / (hi - lo) if hi > lo else float("nan")
    first = next(t for t, n in samples if n > 0)
    return sustained, samples[-1][0] - first, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--mix", choices=["mixed", "purchases"], default="mixed")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--worker-src", type=Path, default=ROOT / "src")
    ap.add_argument("--label", default="")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    tag = uuid.uuid4().hex[:8]
    s = load_settings(
        topic_suffix=f"-bench{tag}",
        app_id=f"bench-{tag}",
        redis_prefix=f"b{tag}",
        partitions=a.partitions,
        web_enabled=False,
    )
    create_topics(s)
    sim = Simulator(a.customers, datetime(2024, 1, 1, tzinfo=UTC), seed=1)
    stream = sim.purchases() if a.mix == "purchases" else sim.events()
    events = list(islice(stream, a.events))
    kinds = sorted({k for k, t in INPUT_SCHEMAS.items() for e in events[:5000] if isinstance(e, t)})
    producer = make_producer(s)
    t0 = time.perf_counter()
    send_events(producer, topic_router(s), events, total=len(events), progress=sys.stderr.isatty(), label="produce")
    produce_rate = len(events) / (time.perf_counter() - t0)
    producer.close()

    base = baseline_read(s, kinds, len(events))
    sustained, wall, rss = run_worker(s, a.worker_src, len(events), a.timeout)
    result = {
        "label": a.label or f"{a.mix} {a.events} events {a.customers} customers",
        "events": len(events),
        "customers": a.customers,
        "mix": a.mix,
        "partitions": a.partitions,
        "produce_events_per_s": round(produce_rate),
        "baseline_read_decode_events_per_s": round(base),
        "worker_sustained_events_per_s": round(sustained),
        "worker_wall_s": round(wall, 2),
        "worker_peak_rss_mb": round(rss, 1),
        "worker_src": str(a.worker_src),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for k, v in result.items():
        print(f"{k:36} {v}")
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
    r = redis.Redis.from_url(s.redis_url)
    keys = list(r.scan_iter(match=f"{s.redis_prefix}:*", count=5000))
    for i in range(0, len(keys), 5000):
        r.unlink(*keys[i : i + 5000])


if __name__ == "__main__":
    main()
