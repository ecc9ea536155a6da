"""Latency of the standalone profile API (`segstream api`) at a fixed request rate, with the
worker idle and ingesting, against the bare Redis lookups measured in the same run.

    python benchmarks/api_latency.py --customers 20000 --processes 1,2,4 --seconds 10

Needs Kafka and Redis (`make up`). Starts a real `segstream worker` on its own topics and
key prefix and feeds it simulated customers; then, for each API process count, starts
`segstream api --processes N` and, with the worker idle and then while a simulator feeds
it ``--ingest-rate`` events/s, runs benchmarks/loadgen.py (a second process: open loop,
fixed rate, latency from each request's due time) four times:

- ``redis-get``: GET of a random customer's key at ``--rate`` (the baseline of the lookup);
- ``http-get``: GET /customers/{id} at ``--rate``;
- ``redis-mget``: one MGET of ``--batch`` random customers' keys at ``--batch-rate``;
- ``http-batch``: POST /customers:batchGet of ``--batch`` ids at ``--batch-rate``.

Prints a table and appends one JSON line per measurement to
benchmarks/results/api_latency.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import (  # noqa: E402
    CACHE,
    Counters,
    cleaned_up,
    env_for,
    exit_on_sigterm,
    isolated_settings,
    start,
    stop,
    table,
    wait_applied,
)

from segstream.state.keys import Keys  # noqa: E402
from segstream.streams.topics import create_topics  # noqa: E402

LOADGEN = ROOT / "benchmarks" / "loadgen.py"
API_PORT = 6079


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process and its children so far (0: gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK + sum(cpu_s(int(k)) for k in kids)


def pid_file(name: str) -> int | None:
    found = sorted((CACHE / "run").glob(f"{name}-*.pid"))
    return int(found[0].read_text()) if found else None


def loadgen(
    mode: str, port: int, rate: float, seconds: float, ids: Path, token: str, batch: int, watch: dict[str, int]
) -> dict[str, Any]:
    """One load from a second process; with the share of a core each watched process (and
    the load generator) used meanwhile."""
    cmd = [sys.executable, str(LOADGEN), mode, "--port", str(port), "--rate", str(rate)]
    cmd += ["--seconds", str(seconds), "--ids", str(ids), "--token", token, "--batch", str(batch)]
    before = {name: cpu_s(pid) for name, pid in watch.items()}
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds * 4 + 120)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(out.stdout)
    if result["failed"]:
        raise SystemExit(f"{mode}: {result['failed']} requests failed")
    cores = {name: round((cpu_s(pid) - before[name]) / wall, 2) for name, pid in watch.items()}
    cores["loadgen"] = round((after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime) / wall, 2)
    result["cores_used"] = cores
    return result


def api_up(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--processes", default="1,2,4", help="API process counts to measure, comma-separated")
    ap.add_argument("--rate", type=float, default=2000.0, help="GET /customers/{id} per second")
    ap.add_argument("--batch-rate", type=float, default=100.0, help="batch lookups per second")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds of each load (after 2 s of warm-up)")
    ap.add_argument("--ingest-rate", type=float, default=5000.0, help="events/s fed while ingesting")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "api_latency.jsonl")
    a = ap.parse_args()
    exit_on_sigterm()
    token = uuid.uuid4().hex
    tag, s = isolated_settings("api", api_token=token, api_port=API_PORT, web_enabled=True, web_port=6078)
    create_topics(s)
    counters = Counters(s)
    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    with cleaned_up(s, tag):
        worker, wlog = start([sys.executable, "-m", "segstream", "worker"], env_for(s), f"api-latency-{tag}.log")
        api = feeder = None
        try:
            events = a.customers * 10
            sim = [sys.executable, "-m", "segstream", "simulate", "--customers", str(a.customers), "--no-progress"]
            subprocess.run([*sim, "--rate", "0", "--events", str(events)], env=env_for(s), check=True, timeout=1800)
            wait_applied(counters.applied, events, 1800, lambda: worker.poll() is None, f"the worker (log {wlog})")
            ids = sorted(counters.customers())
            keys = Keys(s.redis_prefix, s.redis_shards)
            CACHE.mkdir(exist_ok=True)
            id_file, key_file = CACHE / f"ids-{tag}.txt", CACHE / f"keys-{tag}.txt"
            id_file.write_text("\n".join(ids), encoding="utf-8")
            key_file.write_text("\n".join(keys.customer(c) for c in ids), encoding="utf-8")
            redis_port = int(s.redis_url.rsplit(":", 1)[1].split("/")[0])
            for n in [int(p) for p in a.processes.split(",")]:
                api, _ = start([sys.executable, "-m", "segstream", "api", "--processes", str(n)], env_for(s),
                               f"api-latency-api-{tag}.log")  # fmt: skip
                deadline = time.monotonic() + 60
                while not api_up(API_PORT):
                    if time.monotonic() > deadline or api.poll() is not None:
                        raise SystemExit("the API did not start")
                    time.sleep(0.2)
                for worker_state in ("idle", "ingesting"):
                    ingest = None
                    watch = {"worker": worker.pid, "api": api.pid}
                    for name in ("redis", "kafka"):
                        if (pid := pid_file(name)) is not None:
                            watch[name] = pid
                    if worker_state == "ingesting":  # enough events for the four loads, then it stops
                        budget = int(a.ingest_rate * (4 * (a.seconds + 2) + 30))
                        feeder, _ = start([*sim, "--rate", str(a.ingest_rate), "--events", str(budget),
                                           "--seed", "43"], env_for(s), f"api-latency-sim-{tag}.log")  # fmt: skip
                        time.sleep(5)
                        watch["simulator"] = feeder.pid
                        applied0, t0 = counters.applied(), time.monotonic()
                    measured = [
                        loadgen("redis-get", redis_port, a.rate, a.seconds, key_file, "", 1, watch),
                        loadgen("http-get", API_PORT, a.rate, a.seconds, id_file, token, 1, watch),
                        loadgen("redis-mget", redis_port, a.batch_rate, a.seconds, key_file, "", a.batch, watch),
                        loadgen("http-batch", API_PORT, a.batch_rate, a.seconds, id_file, token, a.batch, watch),
                    ]
                    if worker_state == "ingesting":
                        ingest = round((counters.applied() - applied0) / (time.monotonic() - t0), 1)
                        stop(feeder)
                        feeder = None
                    at = datetime.now(UTC).isoformat(timespec="seconds")
                    for m in measured:
                        m |= {"check": "api_latency", "api_processes": n, "worker": worker_state,
                              "ingest_events_per_s": ingest, "customers": len(ids), "at": at}  # fmt: skip
                        results.append(m)
                    get_ratio = measured[1]["p99_ms"] / measured[0]["p99_ms"]
                    batch_ratio = measured[3]["p99_ms"] / measured[2]["p99_ms"]
                    for m, ratio in zip(measured, (None, get_ratio, None, batch_ratio), strict=True):
                        busy = " ".join(f"{k}={v:g}" for k, v in m["cores_used"].items())
                        rows.append([m["mode"], str(n), worker_state, str(ingest or "-"), f"{m['offered_per_s']:g}",
                                     f"{m['achieved_per_s']:g}", f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}",
                                     f"{m['max_ms']:.1f}", f"{ratio:.2f}x" if ratio else "baseline", busy])  # fmt: skip
                stop(api)
                api = None
        finally:
            stop(feeder)
            stop(api)
            stop(worker)
            counters.close()
    print(table(rows, ["load", "API procs", "worker", "ingest ev/s", "offered/s", "achieved/s", "p50 ms", "p99 ms",
                       "max ms", "p99 / baseline", "cores used"]))  # fmt: skip
    a.json.parent.mkdir(parents=True, exist_ok=True)
    with a.json.open("a") as fh:
        for r in results:
            fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
