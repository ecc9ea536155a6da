"""Sustained worker throughput on a backlog, against a read-only baseline in the same run.

    python benchmarks/throughput.py --events 200000 --customers 20000 --mix mixed
    python benchmarks/throughput.py --mix purchases --worker-src /path/to/old/checkout/src
    python benchmarks/throughput.py --events 200000 --customers 20000 --mix mixed --naive

Steps: create isolated topics, produce N simulated events (untimed), then
(1) baselines: a kafka-python consumer, then an aiokafka one (getmany, as the worker
reads), each read and msgspec-decode the same backlog, no Redis;
(2) a real `segstream worker` process (from --worker-src, default this checkout) consumes it.
The worker's rate is taken between 10% and 90% of the events applied (start-up excluded),
from its atomically-written Redis counters. Worker peak RSS is read from /proc.
With --naive, (3) baseline (a) of issue 7 consumes the same backlog after the worker: the
naive Faust agent of benchmarks/naive_agent.py (one Redis read and one write round trip and
one River learn/predict per event), measured the same way, so one run prints read baseline,
naive agent and segstream worker side by side. With --two-workers, (4) two worker processes
in one consumer group consume the same backlog into fresh state (own group and key prefix).
With --format2 after|first, (5) one worker writing state format 2 (SEGSTREAM_STATE_COMPRESSION=false,
the uncompressed records of releases before 2026-12-03) consumes it the same way: the cost
of compressing customer records, in the same run. With --compare-src PATH [--compare-order
first|after], (6) one worker run from another checkout's src (e.g. the previous commit, in a
git worktree) consumes the same backlog the same way: before and after a change, in one run.
With --py-spy DIR, py-spy samples the one-worker runs (DIR/worker.txt, DIR/compare.txt;
benchmarks/profile_summary.py reads them). Needs Kafka and Redis running (`make up`).
Prints a table; --json appends one line to a file.
The run's topics and Redis keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import msgspec
from kafka import KafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from segstream.config import Settings
from segstream.feeders.producer import make_producer, send_events, topic_router
from segstream.feeders.simulator import Simulator
from segstream.streams.kinds import SCHEMAS as INPUT_SCHEMAS
from segstream.streams.security import client_kwargs
from segstream.streams.topics import create_topics

PY_SPY_DELAY_S = 8  # after the worker's start: past its start-up (~4 s here)
PY_SPY_SECONDS = 20  # of sampling, at 100 Hz


def baseline_read(s: Settings, kinds: list[str], total: int) -> float:
    decoders = {s.topic(k): msgspec.json.Decoder(INPUT_SCHEMAS[k]) for k in kinds}
    c = KafkaConsumer(
        *decoders,
        bootstrap_servers=s.kafka_bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-baseline-{uuid.uuid4().hex[:6]}",
        max_poll_records=2000,
        **client_kwargs(s),
    )
    n, t0 = 0, time.perf_counter()
    while n < total:
        if time.perf_counter() - t0 > 600:
            raise SystemExit(f"baseline read only {n}/{total} events in 600 s")
        for tp, recs in c.poll(timeout_ms=1000).items():
            dec = decoders[tp.topic]
            for r in recs:
                dec.decode(r.value)
            n += len(recs)
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def baseline_aiokafka(s: Settings, kinds: list[str], total: int) -> float:
    """aiokafka ``getmany`` + msgspec decode of the same backlog: what the worker's batch
    consumer reads with, so the real ceiling of a worker (no Redis, no model)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    decoders = {s.topic(k): msgspec.json.Decoder(INPUT_SCHEMAS[k]) for k in kinds}

    async def run() -> float:
        c = AIOKafkaConsumer(
            *decoders,
            bootstrap_servers=s.kafka_bootstrap.split(","),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=f"bench-aio-{uuid.uuid4().hex[:6]}",
            max_partition_fetch_bytes=1 << 20,
            **client_kwargs(s),
        )
        await c.start()
        try:
            n, t0 = 0, time.perf_counter()
            while n < total:
                if time.perf_counter() - t0 > 600:
                    raise SystemExit(f"aiokafka baseline read only {n}/{total} events in 600 s")
                for tp, recs in (await c.getmany(timeout_ms=1000, max_records=5000)).items():
                    dec = decoders[tp.topic]
                    for r in recs:
                        dec.decode(r.value)
                    n += len(recs)
            return n / (time.perf_counter() - t0)
        finally:
            await c.stop()

    return asyncio.run(run())


def run_worker(
    s: Settings, src: Path, total: int, timeout: float, workers: int = 1, profile: Path | None = None
) -> tuple[float, float, float]:
    """``workers`` real `segstream worker` processes (one consumer group) over the backlog:
    sustained events/s of them together, wall s, the largest peak RSS MB. With ``profile``,
    py-spy samples the first worker (raw format, to that file) from PY_SPY_DELAY_S after its
    start for PY_SPY_SECONDS: the start-up is left out."""
    counters = harness.Counters(s)
    procs = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        for i in range(workers):
            cmd = [sys.executable, "-m", "segstream", "worker"]
            procs.append(harness.start(cmd, harness.env_for(s, src), f"bench-worker-{s.app_id}-{i}.log"))
        if profile:
            spy = start_py_spy(procs[0][0].pid, profile)
        samples = harness.wait_applied(
            counters.applied, total, timeout, lambda: all(p.poll() is None for p, _ in procs),
            f"worker (logs {[str(log) for _, log in procs]})",
        )  # fmt: skip
        rss = max(harness.rss_peak_mb(p.pid) for p, _ in procs)
        if spy:
            spy.wait(PY_SPY_DELAY_S + PY_SPY_SECONDS + 30)
    finally:
        harness.stop(spy)
        for p, _ in procs:
            harness.stop(p)
        counters.close()
    sustained, wall = harness.sustained_rate(samples, total)
    return sustained, wall, rss


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (the `bench` extra) records ``pid`` into ``out`` after a delay, in the background."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise SystemExit("--py-spy needs py-spy: pip install -e '.[bench]'")
    record = (
        f"sleep {PY_SPY_DELAY_S}; exec {py_spy} record --pid {pid} --duration {PY_SPY_SECONDS} --rate 100 "
        f"--format raw --nonblocking --output {out}"
    )
    return subprocess.Popen(["sh", "-c", record], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_format2(s: Settings, tag: str, a: argparse.Namespace, n: int) -> tuple[float, float, float]:
    """One worker over the same backlog from scratch (own group and key prefix), writing
    uncompressed records (state format 2)."""
    s3 = s.model_copy(update={"app_id": f"f2-{tag}", "redis_prefix": f"{s.redis_prefix}f2", "state_compression": False})
    try:
        return run_worker(s3, a.worker_src, n, a.timeout)
    finally:
        harness.delete_prefix(s3.redis_url, s3.redis_prefix)


def run_compare(s: Settings, tag: str, a: argparse.Namespace, n: int) -> tuple[float, float, float]:
    """One worker of the ``--compare-src`` checkout over the same backlog from scratch (own
    group and key prefix)."""
    sc = s.model_copy(update={"app_id": f"cmp-{tag}", "redis_prefix": f"{s.redis_prefix}cmp"})
    try:
        return run_worker(sc, a.compare_src, n, a.timeout, profile=a.py_spy and a.py_spy / "compare.txt")
    finally:
        harness.delete_prefix(sc.redis_url, sc.redis_prefix)


def produce_backlog(s: Settings, n: int, customers: int, mix: str) -> tuple[int, list[str], float]:
    """Create the topics and produce the first ``n`` simulated events (seed 1, from 2024-01-01);
    the events sent, the input kinds used and the produce rate."""
    create_topics(s)
    sim = Simulator(customers, datetime(2024, 1, 1, tzinfo=UTC), seed=1)
    stream = sim.purchases() if mix == "purchases" else sim.events()
    events = list(islice(stream, n))
    kinds = sorted({k for k, t in INPUT_SCHEMAS.items() for e in events[:5000] if isinstance(e, t)})
    producer = make_producer(s)
    t0 = time.perf_counter()
    send_events(producer, topic_router(s), events, total=len(events), progress=sys.stderr.isatty(), label="produce")
    produce_rate = len(events) / (time.perf_counter() - t0)
    producer.close()
    return len(events), kinds, produce_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--mix", choices=["mixed", "purchases"], default="mixed")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--worker-src", type=Path, default=harness.ROOT / "src")
    ap.add_argument("--label", default="")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--naive", action="store_true", help="also run the naive Faust agent baseline (issue 7 (a))")
    ap.add_argument(
        "--two-workers",
        action="store_true",
        help="also run two workers in one consumer group on the same backlog (fresh state)",
    )
    ap.add_argument(
        "--format2", choices=["after", "first"], default=None,
        help="also run one worker writing uncompressed records, after the main worker or before it",
    )  # fmt: skip
    ap.add_argument("--compare-src", type=Path, help="also run one worker from this src (another checkout)")
    ap.add_argument("--compare-order", choices=["after", "first"], default="first")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--py-spy", type=Path, metavar="DIR",
        help="profile the one-worker runs with py-spy into DIR/worker.txt (and DIR/compare.txt); "
        "summarise with benchmarks/profile_summary.py",
    )  # fmt: skip
    a = ap.parse_args()
    if a.py_spy:
        a.py_spy.mkdir(parents=True, exist_ok=True)

    harness.exit_on_sigterm()

    tag, s = harness.isolated_settings("bench", partitions=a.partitions)
    naive: dict[str, float] = {}
    two: tuple[float, float, float] | None = None
    fmt2: tuple[float, float, float] | None = None
    cmp: tuple[float, float, float] | None = None
    with harness.cleaned_up(s, tag):
        n, kinds, produce_rate = produce_backlog(s, a.events, a.customers, a.mix)
        base = baseline_read(s, kinds, n)
        aio = baseline_aiokafka(s, kinds, n)
        if a.format2 == "first":
            fmt2 = run_format2(s, tag, a, n)
        if a.compare_src and a.compare_order == "first":
            cmp = run_compare(s, tag, a, n)
        sustained, wall, rss = run_worker(s, a.worker_src, n, a.timeout, profile=a.py_spy and a.py_spy / "worker.txt")
        if a.format2 == "after":
            fmt2 = run_format2(s, tag, a, n)
        if a.compare_src and a.compare_order == "after":
            cmp = run_compare(s, tag, a, n)
        if a.two_workers:  # own consumer group and key prefix: the same backlog from scratch
            s2 = s.model_copy(update={"app_id": f"two-{tag}", "redis_prefix": f"{s.redis_prefix}w2"})
            try:
                two = run_worker(s2, a.worker_src, n, a.timeout, workers=2)
            finally:
                harness.delete_prefix(s2.redis_url, s2.redis_prefix)
        if a.naive:
            from naive_agent import run_naive

            naive = run_naive(s.model_copy(update={"app_id": f"naive-{tag}"}), n, a.timeout)
    result = {
        "label": a.label or f"{a.mix} {n} events {a.customers} customers",
        "events": n,
        "customers": a.customers,
        "mix": a.mix,
        "partitions": a.partitions,
        "produce_events_per_s": round(produce_rate),
        "baseline_read_decode_events_per_s": round(base),
        "baseline_aiokafka_read_decode_events_per_s": round(aio),
        "worker_sustained_events_per_s": round(sustained),
        "worker_wall_s": round(wall, 2),
        "worker_peak_rss_mb": round(rss, 1),
        "worker_src": str(a.worker_src),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if two:
        result |= {
            "two_workers_sustained_events_per_s": round(two[0]),
            "two_workers_wall_s": round(two[1], 2),
            "two_workers_peak_rss_mb": round(two[2], 1),
        }
    if fmt2:
        result |= {
            "format2_worker_sustained_events_per_s": round(fmt2[0]),
            "format2_worker_wall_s": round(fmt2[1], 2),
            "format2_worker_peak_rss_mb": round(fmt2[2], 1),
        }
    if cmp:
        result |= {
            "compare_src": str(a.compare_src),
            "compare_order": a.compare_order,
            "compare_worker_sustained_events_per_s": round(cmp[0]),
            "compare_worker_wall_s": round(cmp[1], 2),
            "compare_worker_peak_rss_mb": round(cmp[2], 1),
        }
    if naive:
        result |= {
            "naive_agent_events_per_s": round(naive["events_per_s"]),
            "naive_agent_wall_s": round(naive["wall_s"], 2),
            "naive_agent_peak_rss_mb": round(naive["peak_rss_mb"], 1),
        }
    for k, v in result.items():
        print(f"{k:36} {v}")
    rows = [
        ["read + decode baseline (kafka-python, no Redis, no model)", f"{base:,.0f}", "100%", ""],
        ["read + decode baseline (aiokafka getmany, as the worker reads)", f"{aio:,.0f}", f"{aio / base:.0%}", ""],
    ]
    if naive:
        rate = naive["events_per_s"]
        rows.append(["naive Faust agent (per event: Redis GET + SET, River)", f"{rate:,.0f}", f"{rate / base:.0%}",
                     f"{naive['peak_rss_mb']:.0f} MB"])  # fmt: skip
    rows.append(["segstream worker", f"{sustained:,.0f}", f"{sustained / base:.0%}", f"{rss:.0f} MB"])
    if fmt2:
        rows.append(["segstream worker, records uncompressed (format 2)", f"{fmt2[0]:,.0f}", f"{fmt2[0] / base:.0%}",
                     f"{fmt2[2]:.0f} MB"])  # fmt: skip
    if cmp:
        rows.append([f"segstream worker of {a.compare_src}", f"{cmp[0]:,.0f}", f"{cmp[0] / base:.0%}",
                     f"{cmp[2]:.0f} MB"])  # fmt: skip
    if two:
        rows.append(["segstream, two workers (one group)", f"{two[0]:,.0f}", f"{two[0] / base:.0%}",
                     f"{two[2]:.0f} MB each at most"])  # fmt: skip
    print()
    print(harness.table(rows, ["consumer (same backlog)", "events/s", "of baseline", "peak RSS"]))
    if a.json:
        with a.json.open("a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
