"""A long run at a fixed rate: does the worker's memory stay flat, and does anything stall it?

    python benchmarks/soak.py --minutes 60 --rate 1500 --customers 50000

A fresh deployment (own topics, group, Redis prefix). A producer process sends simulated
events (seed 1, customers signing up over 30 days from 400 days ago) at ``--rate`` events/s
for ``--minutes``; one real ``segstream worker`` (the leader: it also sweeps, learns clusters
and refits the value models every ``SEGSTREAM_VALUE_FIT_INTERVAL_S``) applies them.

Every ``--every`` seconds (30) one row: the worker's RSS (``/proc``), its open fds, Redis
``used_memory``, the consumer lag (the group's committed offsets against the end offsets),
events applied (segstream's own counters), the WARNING/ERROR lines the worker logged so far,
and the longest stall of the interval: the longest time the applied counter (read every
0.25 s) did not move while events waited.

The verdict, after ``--warmup`` minutes (20): RSS growth from the end of the warm-up to the
end (aim: at most 5%), and the longest stall (aim: at most 1 s). Rows go to
``benchmarks/results/soak.jsonl``; an SVG of RSS, Redis memory and lag over time to
``docs/img/soak.svg``. ``--tracemalloc DIR`` runs the worker under tracemalloc
(benchmarks/traced_worker.py) and writes its largest and fastest-growing allocation sites
to DIR every ``--trace-every`` seconds. Needs Kafka and Redis running (`make up`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import redis

from segstream.streams.topics import consumer_lag, create_topics

CTX = mp.get_context("spawn")
RESULTS = harness.ROOT / "benchmarks" / "results" / "soak.jsonl"
SVG = harness.ROOT / "docs" / "img" / "soak.svg"


def producer_proc(env: dict[str, str], customers: int, rate: float, seconds: float) -> None:
    """Send simulated events at ``rate`` for ``seconds`` (its own process: the GIL stays ours)."""
    os.environ.update(env)
    from segstream.config import load_settings
    from segstream.feeders.producer import Pace, make_producer, send_events, topic_router
    from segstream.feeders.simulator import Simulator

    s = load_settings()
    start = (datetime.now(UTC) - timedelta(days=400)).replace(hour=0, minute=0, second=0, microsecond=0)
    sim = Simulator(customers, start, seed=1)
    n = int(rate * seconds)
    from itertools import islice

    producer = make_producer(s)
    send_events(producer, topic_router(s), islice(sim.events(), n), total=n, pace=Pace(rate=rate), progress=False)
    producer.close()


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class StallWatch(threading.Thread):
    """Reads the applied counter every 0.25 s; the longest time it stood still while the
    producer was sending (events waited), since the last :meth:`take`."""

    def __init__(self, counters: harness.Counters, sending: threading.Event) -> None:
        super().__init__(daemon=True)
        self.counters, self.sending, self.stop = counters, sending, threading.Event()
        self._longest = 0.0
        self._lock = threading.Lock()

    def run(self) -> None:
        last_n, since = -1, time.monotonic()
        while not self.stop.is_set():
            n = self.counters.applied()
            now = time.monotonic()
            if n != last_n or not self.sending.is_set():
                last_n, since = n, now
            with self._lock:
                self._longest = max(self._longest, now - since)
            time.sleep(0.25)

    def take(self) -> float:
        with self._lock:
            out, self._longest = self._longest, 0.0
        return out


def svg(rows: list[dict[str, Any]], warmup_min: float) -> str:
    """RSS (MB), Redis used memory (MB) and lag (thousands) over minutes, one chart each."""
    W, H, PAD = 720, 150, 40
    series = [("worker RSS, MB", "rss_mb", "#3d6fb6"), ("Redis used memory, MB", "redis_mb", "#2e7d4f"),
              ("consumer lag, events", "lag", "#b83227")]  # fmt: skip
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * 3 + 20}" font-family="sans-serif" '
           'font-size="11">']  # fmt: skip
    tmax = max(r["minute"] for r in rows) or 1
    for k, (title, key, colour) in enumerate(series):
        y0 = k * H + 10
        vals = [r[key] for r in rows]
        top = max(vals) * 1.1 or 1
        pts = " ".join(
            f"{PAD + (W - 2 * PAD) * r['minute'] / tmax:.1f},{y0 + H - 25 - (H - 45) * r[key] / top:.1f}" for r in rows
        )
        xw = PAD + (W - 2 * PAD) * warmup_min / tmax
        out += [
            f'<text x="{PAD}" y="{y0 + 12}" font-weight="bold">{title} (max {max(vals):,.0f})</text>',
            f'<line x1="{PAD}" y1="{y0 + H - 25}" x2="{W - PAD}" y2="{y0 + H - 25}" stroke="#ccc"/>',
            f'<line x1="{xw:.1f}" y1="{y0 + 18}" x2="{xw:.1f}" y2="{y0 + H - 25}" stroke="#999" stroke-dasharray="3"/>',
            f'<text x="{xw + 3:.1f}" y="{y0 + 28}" fill="#666">end of warm-up</text>',
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>',
            f'<text x="{W - PAD}" y="{y0 + H - 12}" text-anchor="end" fill="#666">{tmax:.0f} min</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--rate", type=float, default=1500)
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--every", type=float, default=30, help="seconds between rows")
    ap.add_argument("--warmup", type=float, default=20, help="minutes before growth is counted")
    ap.add_argument("--tracemalloc", type=Path, help="run the worker under tracemalloc, snapshots to this folder")
    ap.add_argument("--trace-every", type=float, default=300, help="seconds between tracemalloc snapshots")
    a = ap.parse_args()
    harness.exit_on_sigterm()
    tag, s = harness.isolated_settings("soak")
    create_topics(s)
    env = harness.env_for(s)
    counters = harness.Counters(s)
    r = redis.Redis.from_url(s.redis_url)
    sending = threading.Event()
    watch = StallWatch(harness.Counters(s), sending)  # its own Counters: one event loop per thread
    rows: list[dict[str, Any]] = []
    worker = producer = None
    started = datetime.now(UTC).isoformat()
    with harness.cleaned_up(s, tag):
        try:
            cmd = [sys.executable, "-m", "segstream", "worker"]
            if a.tracemalloc:  # slower; its numbers are not the plain run's
                cmd = [sys.executable, str(Path(__file__).with_name("traced_worker.py"))]
                env = env | {"SOAK_TRACE_DIR": str(a.tracemalloc.resolve()), "SOAK_TRACE_EVERY_S": str(a.trace_every)}
            worker, log = harness.start(cmd, env, f"bench-soak-{tag}.log")
            producer = CTX.Process(target=producer_proc, args=(env, a.customers, a.rate, a.minutes * 60))
            producer.start()
            sending.set()
            watch.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < a.minutes * 60:
                time.sleep(a.every - (time.monotonic() - t0) % a.every)
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited; see {log}")
                lag = consumer_lag(s)
                text = log.read_text(errors="replace")
                row = {
                    "minute": round((time.monotonic() - t0) / 60, 2),
                    "rss_mb": round(rss_mb(worker.pid), 1),
                    "fds": fds(worker.pid),
                    "redis_mb": round(int(r.info("memory")["used_memory"]) / 2**20, 1),
                    "lag": sum(end - max(0, done) for end, done in lag.values()),
                    "applied": counters.applied(),
                    "warnings": text.count("[WARNING]") + text.count("[ERROR]"),
                    "overlapping": text.count("is overlapping"),
                    "longest_stall_s": round(watch.take(), 2),
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            sending.clear()
            watch.stop.set()
            watch.join(5)
            watch.counters.close()
            if producer is not None:
                producer.terminate()
                producer.join(10)
            harness.stop(worker)
            counters.close()
            r.close()
    warm = [x for x in rows if x["minute"] >= a.warmup]
    growth = (warm[-1]["rss_mb"] - warm[0]["rss_mb"]) / warm[0]["rss_mb"] if len(warm) > 1 else float("nan")
    stall_after = max((x["longest_stall_s"] for x in warm), default=float("nan"))
    verdict = {
        "started": started, "minutes": a.minutes, "rate": a.rate, "customers": a.customers,
        "rss_mb_at_warmup_end": warm[0]["rss_mb"] if warm else None, "rss_mb_end": rows[-1]["rss_mb"] if rows else None,
        "rss_growth_after_warmup": round(growth, 4), "rss_peak_mb": max(x["rss_mb"] for x in rows),
        "longest_stall_s": max(x["longest_stall_s"] for x in rows),
        "longest_stall_after_warmup_s": stall_after, "max_lag": max(x["lag"] for x in rows),
        "warnings": rows[-1]["warnings"], "overlapping_timers": rows[-1]["overlapping"],
        "applied": rows[-1]["applied"], "tracemalloc": bool(a.tracemalloc), "rows": rows,
    }  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(verdict) + "\n")
    if not a.tracemalloc:
        SVG.parent.mkdir(exist_ok=True)
        SVG.write_text(svg(rows, a.warmup))
    print(harness.table(
        [[f"{a.minutes:g} min at {a.rate:g} ev/s, {a.customers:,} customers", f"{verdict['rss_mb_at_warmup_end']}",
          f"{verdict['rss_mb_end']}", f"{100 * growth:+.1f}%", f"{verdict['rss_peak_mb']}",
          f"{stall_after:.2f}", f"{verdict['max_lag']:,}", str(verdict["warnings"])]],
        ["run", f"RSS MB at {a.warmup:g} min", "RSS MB end", "growth", "peak", "longest stall s (after warm-up)",
         "max lag", "warnings"],
    ))  # fmt: skip


if __name__ == "__main__":
    main()
