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

With ``--recalibrate``, the same replay also asks whether the risk could be made a
probability from the stream's own grades: every graded prediction at event time t gets
the isotonic map (pool adjacent violators, scipy) of the predictions graded before t, that
is made before t - H, optionally weighted by their age (half-life in event days); the
calibration by decile of the mapped risk is then reported over those predictions beside
the raw risk's over the same predictions. Out of time by construction: no prediction's own
label, nor any label not yet known at t, enters its map.

    python benchmarks/grades.py --customers 1000 --days 400 --seed 12 --recalibrate 0 30 7 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from scipy.optimize import isotonic_regression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.scoring.replay import replay

from segstream.agents.grading import Grading
from segstream.models.decay import US_PER_DAY
from segstream.models.grading import _Pending, deciles
from segstream.models.value import ValueModel
from segstream.scoring.models import Models


def _gaps(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    table = deciles(p, y)
    return {
        "max_gap": round(max(abs(d.predicted - d.observed) for d in table), 4),
        "deciles": [[round(d.predicted, 4), round(d.observed, 4), d.n] for d in table],
    }


def recalibration(
    graded: list[tuple[int, float, int]], horizon: float, half_lives: list[float], min_known: int = 500, batch: int = 50
) -> list[dict[str, Any]]:
    """Out-of-time isotonic maps of the risk (see the module's docstring), per half-life
    (0: every earlier graded prediction weighs the same); predictions are mapped in batches
    of ``batch`` consecutive ones (by t) once ``min_known`` labels are known."""
    a = np.array(sorted(graded), dtype=np.float64)
    t, s, y = a[:, 0], a[:, 1], a[:, 2]
    h_us = horizon * US_PER_DAY
    out = []
    for hl in half_lives:
        mapped = np.full(len(t), np.nan)
        for i in range(0, len(t), batch):
            known = t + h_us < t[i]
            if known.sum() < min_known:
                continue
            ks, ky, kt = s[known], y[known], t[known]
            w = 0.5 ** ((kt.max() - kt) / (hl * US_PER_DAY)) if hl > 0 else np.ones(len(ks))
            o = np.argsort(ks, kind="stable")
            fitted = isotonic_regression(ky[o], weights=w[o]).x
            mapped[i : i + batch] = np.interp(s[i : i + batch], ks[o], fitted)
        m = ~np.isnan(mapped)
        late = m & (t > np.median(t[m])) if m.any() else m
        out.append(
            {
                "half_life_days": hl,
                "mapped": int(m.sum()),
                "raw": _gaps(s[m], y[m]) if m.any() else None,
                "recalibrated": _gaps(mapped[m], y[m]) if m.any() else None,
                "raw_second_half": _gaps(s[late], y[late]) if late.any() else None,
                "recalibrated_second_half": _gaps(mapped[late], y[late]) if late.any() else None,
            }
        )
    return out


def run(customers: int, days: int, seed: int, horizon: float, half_lives: list[float] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    grading = Grading(horizon_days=horizon)
    graded: list[tuple[int, float, int]] = []
    if half_lives is not None:
        grade = grading.grader._grade

        def keep(p: _Pending) -> None:  # every graded prediction, before the window drops it
            graded.append((p.t_us, p.score, 0 if p.active else 1))
            grade(p)

        grading.grader._grade = keep  # type: ignore[method-assign]
    replay(customers, days, seed, Models(value=ValueModel(min_customers=30)), grading=grading, comeback_share=0.3)
    report = msgspec.to_builtins(grading.report())
    extra = {"recalibration": recalibration(graded, horizon, half_lives)} if half_lives is not None else {}
    return {
        "customers": customers,
        "days": days,
        "seed": seed,
        "horizon_days": horizon,
        "seconds": round(time.perf_counter() - started, 1),
        "grades": report,
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--days", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--horizon", type=float, default=90.0, help="days; the worker grades over its value horizon (90)")
    ap.add_argument(
        "--recalibrate",
        type=float,
        nargs="*",
        metavar="HALF_LIFE",
        help="also map the risk by out-of-time isotonic fits, one per half-life in event days (0: unweighted)",
    )
    ap.add_argument("--out", default="benchmarks/results/grades.jsonl")
    a = ap.parse_args()
    if a.recalibrate is not None and any(h < 0 for h in a.recalibrate):
        ap.error("--recalibrate: half-lives must be >= 0")
    row = run(a.customers, a.days, a.seed, a.horizon, a.recalibrate)
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
    for r in row.get("recalibration", []):
        if r["raw"] is None:
            print(f"half-life {r['half_life_days']}: too few labels known to map anything")
            continue
        print(
            f"half-life {r['half_life_days']} d, {r['mapped']} predictions mapped: largest decile gap raw "
            f"{r['raw']['max_gap']} -> recalibrated {r['recalibrated']['max_gap']}; second half "
            f"{r['raw_second_half']['max_gap']} -> {r['recalibrated_second_half']['max_gap']}"
        )


if __name__ == "__main__":
    main()
