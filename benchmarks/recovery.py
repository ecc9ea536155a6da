"""Restart after a crash: ``kill -9`` of a worker, an immediate restart, seconds to work again.

    python benchmarks/recovery.py --runs 3 --rate 500

Each run is a fresh deployment (own topics, consumer group, Redis prefix). A paced
producer (a thread of this process, kafka-python, segstream's feeder settings) sends
simulated events (seed 1, from 2024-01-01) at ``--rate`` events/s for the whole run. A real
``segstream worker`` subprocess consumes them; once it has applied events for ``--warm`` s it
is killed with SIGKILL and the same command is started again at once. From that restart we
time:

- **ready**: the first ``GET /ready`` answered 200 (polled every 50 ms);
- **applied**: the first input event applied after the restart (segstream's own
  ``events:*`` counters, read through ``Store.stats()`` every 50 ms, grow past their value
  at the kill);
- what ``/ready`` said in between (its ``reason`` texts, with how often each was seen).

Three membership modes, in the same run, one after the other:

- ``before`` (the baseline): what segstream did before static membership: dynamic members
  (``SEGSTREAM_INSTANCE_ID=``) and a 60 s session in the leader-election group (Faust's
  default then); the restarted worker is a new member, and each group waits for the dead
  one's session to time out;
- ``dynamic``: dynamic members with the 10 s session (``SEGSTREAM_SESSION_TIMEOUT_S``);
- ``static``: ``SEGSTREAM_INSTANCE_ID=bench-0`` (static group membership, KIP-345, the
  default ``auto`` when the web server is on): the restarted worker takes its old
  member's place and partitions without a rebalance.

``--takeover`` times the other side of static membership: two workers share the
partitions, one is stopped cleanly (SIGTERM, as when scaling down), and we time until the
other has every partition. A dynamic member leaves the group as it stops; a static one does
not (so that a restart finds its place), and its partitions wait for its session to expire.

Needs Kafka and Redis running (`make up`). Prints a table; ``--json`` appends one line per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from segstream.feeders.producer import Pace, make_producer, send_events, topic_router
from segstream.feeders.simulator import Simulator
from segstream.streams.topics import create_topics

MODES: dict[str, dict[str, Any]] = {
    "before": {"instance_id": "", "session_timeout_s": 60.0},  # the defaults before static membership
    "dynamic": {"instance_id": ""},
    "static": {"instance_id": "bench-0"},
}


def ready(port: int) -> tuple[bool, str]:
    """Whether ``/ready`` answers 200, and its reason (or the connection error)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            return r.status == 200, "ready"
    except urllib.error.HTTPError as exc:
        try:
            return False, json.loads(exc.read()).get("reason", str(exc.code))
        except ValueError:
            return False, str(exc.code)
    except OSError:
        return False, "(not answering)"


def one_run(mode: str, a: argparse.Namespace, port: int) -> dict[str, Any]:
    extra = MODES[mode]
    tag, s = harness.isolated_settings("rec", web_enabled=True, web_port=port, **extra)
    create_topics(s)
    stop = threading.Event()
    total = int(a.rate * (a.warm + a.limit + 30))

    def produce() -> None:
        sim = Simulator(a.customers, datetime(2024, 1, 1, tzinfo=UTC), seed=1)
        producer = make_producer(s)
        events = (e for e in islice(sim.events(), total) if not stop.is_set())
        send_events(producer, topic_router(s), events, total=total, pace=Pace(rate=a.rate))
        producer.close()

    counters = harness.Counters(s)
    cmd = [sys.executable, "-m", "segstream", "worker"]
    env = harness.env_for(s) | {"SEGSTREAM_LOG_LEVEL": "info"}  # the restart's steps, timed, in the log
    feeder = threading.Thread(target=produce, daemon=True)
    proc = None
    with harness.cleaned_up(s, tag):
        try:
            feeder.start()
            proc, log = harness.start(cmd, env, f"bench-recovery-{tag}-1.log")
            harness.wait_applied(counters.applied, 1, 120, lambda: proc.poll() is None, f"worker ({log})")
            time.sleep(a.warm)
            before = counters.applied()
            proc.kill()
            proc.wait(10)
            t0 = time.perf_counter()
            proc, log = harness.start(cmd, env, f"bench-recovery-{tag}-2.log")
            t_ready = t_applied = None
            seen: Counter[str] = Counter()
            while time.perf_counter() - t0 < a.limit and (t_ready is None or t_applied is None):
                ok, reason = ready(port)
                now = time.perf_counter() - t0
                if ok and t_ready is None:
                    t_ready = now
                if not ok:
                    seen[reason] += 1
                if t_applied is None and counters.applied() > before:
                    t_applied = time.perf_counter() - t0
                if proc.poll() is not None:
                    raise SystemExit(f"the restarted worker exited; see {log}")
                time.sleep(0.05)
        finally:
            stop.set()
            harness.stop(proc)
            feeder.join(30)
            counters.close()
    return {"mode": mode, "ready_s": t_ready, "applied_s": t_applied, "reasons": dict(seen), "rate": a.rate}


def one_takeover(mode: str, a: argparse.Namespace, port: int) -> dict[str, Any]:
    """Two workers share the partitions; one is stopped (SIGTERM, a clean shutdown, as when
    scaling down); seconds until the other has every partition and has applied an event."""
    extra = MODES[mode]
    tag, s = harness.isolated_settings("tko", web_enabled=True, web_port=port, **extra)
    s2 = s.model_copy(update={"web_port": port + 1} | ({"instance_id": "bench-1"} if mode == "static" else {}))
    create_topics(s)
    total_parts = 4 * s.partitions
    stop = threading.Event()
    total = int(a.rate * (a.warm + a.limit + 60))

    def produce() -> None:
        sim = Simulator(a.customers, datetime(2024, 1, 1, tzinfo=UTC), seed=2)
        producer = make_producer(s)
        send_events(producer, topic_router(s), (e for e in islice(sim.events(), total) if not stop.is_set()),
                    total=total, pace=Pace(rate=a.rate))  # fmt: skip
        producer.close()

    def partitions(p: int) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{p}/ready", timeout=1) as r:
                return int(json.loads(r.read()).get("assigned_partitions", 0))
        except (OSError, ValueError):
            return 0

    counters = harness.Counters(s)
    cmd = [sys.executable, "-m", "segstream", "worker"]
    feeder = threading.Thread(target=produce, daemon=True)
    procs: list[Any] = []
    t_all = t_applied = None
    with harness.cleaned_up(s, tag):
        try:
            feeder.start()
            for i, si in enumerate((s, s2)):
                procs.append(harness.start(cmd, harness.env_for(si), f"bench-takeover-{tag}-{i}.log")[0])
            deadline = time.perf_counter() + a.limit
            while partitions(port) + partitions(port + 1) < total_parts or not partitions(port + 1):
                if time.perf_counter() > deadline:
                    raise SystemExit("the two workers did not share the partitions")
                time.sleep(0.2)
            time.sleep(a.warm)
            t0 = time.perf_counter()  # from the SIGTERM: a clean stop takes a while itself
            procs[1].terminate()
            before = counters.applied()
            while time.perf_counter() - t0 < a.limit and (t_all is None or t_applied is None):
                if t_all is None and partitions(port) == total_parts:
                    t_all = time.perf_counter() - t0
                if t_all is not None and t_applied is None and counters.applied() > before:
                    t_applied = time.perf_counter() - t0
                time.sleep(0.05)
        finally:
            stop.set()
            for proc in procs:
                harness.stop(proc)
            feeder.join(30)
            counters.close()
    return {"mode": mode, "scenario": "scale-down", "all_partitions_s": t_all, "applied_s": t_applied, "rate": a.rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per mode")
    ap.add_argument("--rate", type=float, default=500, help="input events per second")
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--warm", type=float, default=10, help="seconds of work before the kill")
    ap.add_argument("--limit", type=float, default=120, help="longest wait for the restarted worker")
    ap.add_argument("--port", type=int, default=6091, help="the worker's web port")
    ap.add_argument("--modes", default="before,dynamic,static", help=f"of {sorted(MODES)}")
    ap.add_argument("--json", type=Path, help="append one JSON line per run to this file")
    ap.add_argument("--takeover", action="store_true", help="also time a clean stop of one of two workers")
    ap.add_argument("--runs-restart", type=int, help="restart runs per mode (default --runs; 0: takeover only)")
    a = ap.parse_args()
    harness.exit_on_sigterm()
    results = []
    for i in range(a.runs if a.runs_restart is None else a.runs_restart):
        for mode in a.modes.split(","):
            r = one_run(mode, a, a.port)
            print(f"run {i + 1} {mode}: ready {r['ready_s']} s, applied {r['applied_s']} s, /ready said {r['reasons']}",
                  file=sys.stderr)  # fmt: skip
            results.append(r)
            if a.json:
                with a.json.open("a") as fh:
                    fh.write(json.dumps(r | {"at": datetime.now(UTC).isoformat()}) + "\n")
    rows = []
    for mode in a.modes.split(","):
        mine = [r for r in results if r["mode"] == mode]

        def fmt(key: str, runs: list[dict[str, Any]] = mine) -> str:
            vals = [r[key] for r in runs if r[key] is not None]
            missed = len(runs) - len(vals)
            text = f"{statistics.median(vals):.1f} ({min(vals):.1f}-{max(vals):.1f})" if vals else "-"
            return text + (f", {missed} never" if missed else "")

        rows.append([mode, str(len(mine)), fmt("ready_s"), fmt("applied_s")])
    header = ["membership", "runs", "restart→ready s, median (min-max)", "restart→first applied s"]
    if results:
        print(harness.table(rows, header))
    if not a.takeover:
        return
    rows = []
    for mode in a.modes.split(","):
        mine = []
        for i in range(a.runs):
            r = one_takeover(mode, a, a.port)
            print(f"takeover {i + 1} {mode}: all partitions {r['all_partitions_s']} s, applied {r['applied_s']} s",
                  file=sys.stderr)  # fmt: skip
            mine.append(r)
            if a.json:
                with a.json.open("a") as fh:
                    fh.write(json.dumps(r | {"at": datetime.now(UTC).isoformat()}) + "\n")
        vals = [r["all_partitions_s"] for r in mine if r["all_partitions_s"] is not None]
        text = f"{statistics.median(vals):.1f} ({min(vals):.1f}-{max(vals):.1f})" if vals else "-"
        never = len(mine) - len(vals)
        rows.append([mode, str(len(mine)), text + (f", {never} never" if never else "")])
    print(harness.table(rows, ["membership", "runs", "clean stop of 1 of 2 workers → the other has all partitions, s"]))


if __name__ == "__main__":
    main()
