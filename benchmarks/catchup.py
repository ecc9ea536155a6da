"""Catch-up of a history behind the event-time barrier, against the per-batch path.

    python benchmarks/catchup.py --modes off,week,day

Each mode is a fresh deployment (own topics, consumer group, Redis prefix, 4 partitions
per topic). The CDNOW master file (69,659 purchases of 23,570 customers, January 1997 to
June 1998, sorted by customer: every partition goes back 18 months with each next
customer) is written to Kafka with ``segstream replay`` *before* a worker starts, so the
whole history is a backlog. Then one ``segstream worker`` consumes it, and we time from its
start until the backlog is done:

- ``off`` (the baseline): ``SEGSTREAM_EVENT_EPOCH_S=0``, each batch scored as it comes
  (the path before issue 14; its results depend on the machine's speed): done when every
  event is applied and no customer is due at the stream clock;
- ``week`` (the default) and ``day``: the barrier's epochs of 7 days and of 1 day: done
  when every event is applied, every partition has reported and the last epoch's jobs ran.

Reported: seconds from the worker's start until every event is applied, and until done,
events/s over the latter, epochs closed and customers re-scored
in them (from the worker's log), the worker's peak RSS. Needs Kafka and Redis running
(``make up``); ``--json`` appends one line per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from segstream.state.barrier import LIVE, Barrier, partition_names, ready
from segstream.state.keys import CLOCK_GLOBAL
from segstream.state.store import Store
from segstream.streams.topics import create_topics

CDNOW_MASTER = harness.ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
PURCHASES = 69_659
MODES = {"off": 0.0, "week": 7 * 86_400.0, "day": 86_400.0}
EPOCH_LINE = re.compile(r"epoch to \d+: (\d+) customers re-scored")


def done(s: Any, applied: list[float]) -> bool:
    """The backlog is applied and scored (see the module's docstring); the time every event
    was applied is appended to ``applied``."""

    async def look() -> bool:
        store = Store.from_settings(s)
        try:
            stats = await store.stats()
            if sum(v for k, v in stats.items() if k.startswith("events:")) < PURCHASES:
                return False
            if not applied:
                applied.append(time.perf_counter())
            if not s.event_epoch_s:
                clock = (await store.clock()).get(CLOCK_GLOBAL, 0)
                return bool(await store.due_count(clock) == 0)
            barrier = Barrier(store.client, store.keys)
            ep = await barrier.epoch()
            if ep.next == LIVE:
                return True
            held = ready(await barrier.positions(), partition_names(s.topic, s.partitions), ep.next)
            return bool(held == [] and ep.done == ep.next > 0)
        finally:
            await store.close()

    return asyncio.run(look())


def one(mode: str, a: argparse.Namespace) -> dict[str, Any]:
    tag, s = harness.isolated_settings("cu", event_epoch_s=MODES[mode], partitions=4, batch_size=2000)
    create_topics(s)
    env = harness.env_for(s) | {"SEGSTREAM_LOG_LEVEL": "info"}  # the epochs' lines, in the log
    proc = None
    with harness.cleaned_up(s, tag):
        try:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "segstream", "replay", str(CDNOW_MASTER), "--no-progress"],
                env=env, check=True, capture_output=True, timeout=600,
            )  # fmt: skip
            written = time.perf_counter() - t0
            t0 = time.perf_counter()
            proc, log = harness.start([sys.executable, "-m", "segstream", "worker"], env, f"bench-catchup-{tag}.log")
            applied: list[float] = []
            while not done(s, applied):
                if proc.poll() is not None:
                    raise SystemExit(f"the worker exited; see {log}")
                if time.perf_counter() - t0 > a.limit:
                    raise SystemExit(f"{mode}: not done in {a.limit} s; see {log}")
                time.sleep(0.25)
            took = time.perf_counter() - t0
            rss = harness.rss_peak_mb(proc.pid)
        finally:
            harness.stop(proc)
    epochs = [int(m.group(1)) for m in EPOCH_LINE.finditer(log.read_text(errors="replace"))]
    return {
        "mode": mode, "epoch_s": MODES[mode], "written_s": round(written, 1),
        "applied_s": round(applied[0] - t0, 1), "done_s": round(took, 1),
        "events_per_s": round(PURCHASES / took), "epochs": len(epochs), "rescored": sum(epochs),
        "rss_peak_mb": round(rss, 1),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="off,week", help=f"of {sorted(MODES)}, in this order")
    ap.add_argument("--limit", type=float, default=900, help="longest wait per mode, s")
    ap.add_argument("--json", type=Path, help="append one JSON line per mode to this file")
    a = ap.parse_args()
    harness.exit_on_sigterm()
    rows = []
    for mode in a.modes.split(","):
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        r = one(mode, a)
        print(json.dumps(r), file=sys.stderr)
        rows.append([mode, f"{r['applied_s']:.1f}", f"{r['done_s']:.1f}", f"{r['events_per_s']:,}", str(r["epochs"]),
                     f"{r['rescored']:,}", f"{r['rss_peak_mb']:.0f}"])  # fmt: skip
        if a.json:
            with a.json.open("a") as fh:
                fh.write(json.dumps(r | {"at": datetime.now(UTC).isoformat()}) + "\n")
    header = ["barrier", "start → all applied, s", "start → done, s", "events/s", "epochs", "re-scored", "peak RSS MB"]
    print(harness.table(rows, header))


if __name__ == "__main__":
    main()
