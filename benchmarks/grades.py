"""The worker's self-graded scores on a simulated population: how its churn risk at event
time t ranked "no purchase or use in (t, t + H]" (AUC, lift of the top decile,
calibration by decile), and its predicted against realised spend, per value-model
version: the figures `GET /models` serves, from the same grader fed the same way, through
the pure core (tests/unit/scoring/replay.py: no Kafka or Redis, same events every run).

Beside them, in the same run, a batch computation over the same predictions: the graded
(score, label) pairs scored again with `segstream.evaluation.auc`, and two baselines
ranking the same predictions: days since the customer's last activity, and no score at all
(the overall churn rate, AUC 0.5).

    python benchmarks/grades.py --customers 300 --days 300 --seed 11
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.scoring.replay import replay

from segstream.agents.grading import Grading
from segstream.models.value import ValueModel
from segstream.scoring.models import Models


def run(customers: int, days: int, seed: int, horizon: float) -> dict[str, Any]:
    started = time.perf_counter()
    grading = Grading(horizon_days=horizon)
    replay(customers, days, seed, Models(value=ValueModel(min_customers=30)), grading=grading, comeback_share=0.3)
    report = msgspec.to_builtins(grading.report())
    return {
        "customers": customers,
        "days": days,
        "seed": seed,
        "horizon_days": horizon,
        "seconds": round(time.perf_counter() - started, 1),
        "grades": report,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--days", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--horizon", type=float, default=90.0, help="days; the worker grades over its value horizon (90)")
    ap.add_argument("--out", default="benchmarks/results/grades.jsonl")
    a = ap.parse_args()
    row = run(a.customers, a.days, a.seed, a.horizon)
    with Path(a.out).open("a") as f:
        f.write(json.dumps(row) + "\n")
    g = row["grades"]
    print(f"pending {g['pending']}, sample rate {g['sample_rate']}, {row['seconds']} s")
    for v in g["versions"]:
        c, val = v["churn"], v["value"]
        print(
            f"v{v['version']}: n={c['n']} churned={c['positives']} auc={c['auc']} lift={c['lift_top_decile']} "
            f"gap={c['max_calibration_gap']} calibrated={c['calibrated']} value ratio={val['ratio']} n={val['n']}"
        )


if __name__ == "__main__":
    main()
