"""What one value refit costs the leader, per lapse model, in the same run: BG/NBD alone
(``SEGSTREAM_CHURN_LAPSE_MODEL=bgnbd``) against BG/NBD and Pareto/NBD (``auto``, the
default, and ``paretonbd``), on one core, no Kafka or Redis.

    python benchmarks/value_fit_cost.py --customers 20000 100000
    python benchmarks/value_fit_cost.py --cdnow-master ../shared/data/cdnow/CDNOW_master.txt

Repeat histories are simulated from BG/NBD parameters near CDNOW's (r 0.24, alpha 4.4,
a 0.79, b 2.4; 39 weeks), spends from a Gamma. All are 39 weeks old, so the fits (one row
per distinct history, weighted) see the customers without repeat purchases as one row;
``--continuous`` scales each customer's times by its own factor in [0.5, 1) (ages 19.5 to
39 weeks, no two histories alike: the fits' worst case); ``--weeks 0.5`` makes them half a
week old, as in a stream's first days (few repeat purchases: fits on a ridge), and
``--memory`` adds each model's peak memory over its two fits (tracemalloc, which slows
them). Each size is fitted twice per model: from the default start (the first fit of a
deployment), then warm-started from that fit's
parameters (every later refit), as ``agents/modelsync.py`` does. Wall time of
``fit_value``; the tier edges' scoring of everyone is included.

``--cdnow-master``: the refits a stream makes as the master file's 18 months arrive, on the
purchases up to each of ``--days`` (one day's purchases merged), each warm-started from the
one before, per lapse model; beside each, the same run's fit from scratch (default start,
no previous parameters) on the same data: its time and log-likelihood. A refit whose
log-likelihood is below the fit from scratch's stayed on a worse optimum.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from segstream.evaluation import cdnow_calibration
from segstream.models.bgnbd import simulate
from segstream.models.value import ValueModel, ValueSnapshot, fit_value

DAYS = (2, 4, 7, 14, 21, 30, 45, 60, 84, 120, 200, 300, 400, 545)


def replay_master(path: Path, days: list[int], seed: int) -> list[dict[str, object]]:
    """Refits along the master file (see the module's docstring), one row per day and model."""
    first_day = pd.Timestamp("1997-01-01")
    rows: list[dict[str, object]] = []
    for lapse in ("bgnbd", "auto"):
        model, previous = ValueModel(lapse_model=lapse), None
        for day in days:
            cal = cdnow_calibration(path, end=str((first_day + pd.Timedelta(days=day - 1)).date()))
            data = [cal[c].to_numpy(dtype=np.float64) for c in ("x", "t_x", "T", "m_x")]
            version = previous.version + 1 if previous else 1
            started = time.perf_counter()
            snap: ValueSnapshot = fit_value(model, *data, as_of_us=0, version=version, previous=previous)
            took = time.perf_counter() - started
            started = time.perf_counter()
            scratch = fit_value(model, *data, as_of_us=0, version=1)
            scratch_s = time.perf_counter() - started
            row: dict[str, object] = {"day": day, "customers": len(cal), "lapse_model": lapse, "seed": seed}
            row |= {"refit_s": round(took, 2), "scratch_s": round(scratch_s, 2)}
            for name, fitted, cold in (
                ("bgnbd", snap.bgnbd, scratch.bgnbd),
                ("paretonbd", snap.paretonbd, scratch.paretonbd),
            ):
                if fitted is not None and cold is not None:
                    row[f"{name}_ll_below_scratch"] = round(cold.log_likelihood - fitted.log_likelihood, 2)
            rows.append(row)
            below = {k: v for k, v in row.items() if k.endswith("_below_scratch")}
            print(
                f"day {day:>3}  {len(cal):>6,} customers  {lapse:<6} refit {took:6.2f} s  "
                f"from scratch {scratch_s:6.2f} s  log-likelihood below the fit from scratch: {below}",
                flush=True,
            )
            previous = snap
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/results/value_fit_cost.jsonl")
    ap.add_argument("--continuous", action="store_true", help="each customer its own age: no two histories alike")
    ap.add_argument("--cdnow-master", type=Path, help="replay this CDNOW_master.txt's refits instead")
    ap.add_argument("--days", type=int, nargs="+", default=list(DAYS), help="with --cdnow-master: refit days")
    ap.add_argument(
        "--weeks", type=float, default=39.0, help="age of the simulated histories (0.5: a stream's first days)"
    )
    ap.add_argument("--memory", action="store_true", help="also the peak memory of each fit (tracemalloc; slower)")
    a = ap.parse_args()
    if a.weeks <= 0:
        ap.error("--weeks: more than 0")
    if any(n < 100 for n in a.customers):
        ap.error("--customers: at least 100")
    if a.cdnow_master and not a.cdnow_master.is_file():
        ap.error(f"--cdnow-master: no file {a.cdnow_master}")
    if any(d < 1 for d in a.days) or a.days != sorted(a.days):
        ap.error("--days: ascending, from 1")
    rows = replay_master(a.cdnow_master, a.days, a.seed) if a.cdnow_master else []
    for n in [] if a.cdnow_master else a.customers:
        x, t_x, T = simulate(n, r=0.24, alpha=4.4, a=0.79, b=2.4, T=a.weeks, seed=a.seed)
        if a.continuous:
            scale = np.random.default_rng(a.seed + 1).uniform(0.5, 1.0, n)
            t_x, T = t_x * scale, T * scale
        m_x = np.where(x > 0, np.random.default_rng(a.seed).gamma(6.0, 5.0, n), 0.0)
        for lapse in ("bgnbd", "auto", "paretonbd"):
            model = ValueModel(lapse_model=lapse)
            if a.memory:
                tracemalloc.start()
            started = time.perf_counter()
            first = fit_value(model, x, t_x, T, m_x, as_of_us=0, version=1)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            fit_value(model, x, t_x, T, m_x, as_of_us=0, version=2, previous=first)
            warm = time.perf_counter() - started
            row = {"customers": n, "lapse_model": lapse, "cold_s": round(cold, 2), "warm_s": round(warm, 2)}
            row |= {"continuous": a.continuous, "weeks": a.weeks}
            peak = ""
            if a.memory:
                row["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
                tracemalloc.stop()
                peak = f"  peak {row['peak_mb']} MB"
            rows.append(row | {"status": first.status, "seed": a.seed})
            print(
                f"{n:>9,} customers  {lapse:<9}  default start {cold:6.2f} s  warm {warm:6.2f} s{peak}  {first.status}"
            )
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with Path(a.json).open("a") as f:
        for row in rows:
            f.write(json.dumps(row | {"at": at}) + "\n")


if __name__ == "__main__":
    main()
