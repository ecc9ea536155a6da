"""Every benchmark with its same-run baseline, in one command (what `make bench` runs).

    python benchmarks/run_all.py                  # the documented sizes, ~15 min on 2 cores
    python benchmarks/run_all.py --smoke          # tiny sizes, ~3 min: checks the harness, not a result
    python benchmarks/run_all.py --only latency,batch

In order, each appending its results to benchmarks/results/<name>.jsonl:

throughput  throughput.py --events 300000 --customers 100000 --mix mixed --naive --two-workers
            backlog rate of: read+decode baseline, segstream worker, two workers, naive Faust agent
latency     latency.py --rates 1000,10000 --seconds 30 --customers 20000
            append -> segment change readable, p50/p95/p99, vs an echo pass-through
memory      memory.py --customers 100000 --days 45 --copies 10   (1M customers)
            Redis bytes per customer, vs the purchases-only state
batch       batch_baseline.py --events 300000 --customers 100000  (the throughput backlog)
            batch_baseline.py --events 1000000 --customers 100000
            time to fresh segments recomputing everything with pandas + scikit-learn

Needs Kafka and Redis running (`make up`). Each step runs as a subprocess with a time limit;
Ctrl-C or SIGTERM stops the running step (which stops what it started and deletes its
topics and keys). Ends with a summary of the steps, non-zero if one failed.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name -> (script, arguments, smoke arguments, time limit s)
STEPS: dict[str, list[tuple[str, list[str], list[str], float]]] = {
    "throughput": [
        ("throughput.py", ["--events", "300000", "--customers", "100000", "--mix", "mixed", "--naive", "--two-workers"],
         ["--events", "3000", "--customers", "300", "--mix", "mixed", "--naive", "--timeout", "120"], 900),
    ],
    "latency": [
        ("latency.py", ["--rates", "1000,10000", "--seconds", "30", "--customers", "20000"],
         ["--rates", "300", "--seconds", "4", "--warmup", "2", "--drain", "10", "--customers", "500"], 900),
    ],
    "memory": [
        ("memory.py", ["--customers", "100000", "--days", "45", "--copies", "10"],
         ["--customers", "500", "--days", "10"], 1500),
    ],
    "batch": [
        ("batch_baseline.py", ["--events", "300000", "--customers", "100000"],
         ["--events", "5000", "--customers", "500"], 600),
        ("batch_baseline.py", ["--events", "1000000", "--customers", "100000"],
         ["--events", "20000", "--customers", "2000"], 900),
    ],
}  # fmt: skip


def run(cmd: list[str], limit: float) -> int:
    """Run one step; stop it (by pid) on our Ctrl-C/SIGTERM or when it overruns ``limit``."""
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait(limit)
    except subprocess.TimeoutExpired:
        print(f"run_all: {cmd[1]} exceeded {limit:.0f} s, stopping it", file=sys.stderr)
        return _stop(proc) or 124
    except BaseException:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        # SIGTERM, not SIGINT: a step started from a non-interactive shell may ignore SIGINT;
        # the steps turn SIGTERM into SystemExit, stop their worker, delete their topics and keys
        proc.terminate()
        try:
            return proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)
    return proc.returncode or 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; results go to /tmp, not benchmarks/results")
    ap.add_argument("--label", default="", help="label passed to every step that takes one")
    a = ap.parse_args()

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    chosen = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        raise SystemExit(f"unknown step(s): {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    out_dir = Path("/tmp/segstream-bench-smoke") if a.smoke else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: list[tuple[str, int, float]] = []
    t_all = time.perf_counter()
    for name in chosen:
        for script, args, smoke_args, limit in STEPS[name]:
            jsonl = out_dir / f"{Path(script).stem}.jsonl"
            cmd = [sys.executable, str(HERE / script), *(smoke_args if a.smoke else args), "--json", str(jsonl)]
            if a.label and script != "memory.py":  # memory.py takes no label
                cmd += ["--label", a.label]
            print(f"\n=== {' '.join(['python', f'benchmarks/{script}', *cmd[2:]])}", flush=True)
            t0 = time.perf_counter()
            rc = run(cmd, limit)
            summary.append((" ".join([script, *(smoke_args if a.smoke else args)]), rc, time.perf_counter() - t0))
    print(f"\n=== done in {time.perf_counter() - t_all:.0f} s; results in {out_dir}")
    for what, rc, secs in summary:
        print(f"{'ok    ' if rc == 0 else f'FAILED {rc}':10} {secs:7.0f} s  {what}")
    if any(rc for _, rc, _ in summary):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
