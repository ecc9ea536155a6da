"""What one value refit costs the leader, per lapse model, in the same run: BG/NBD alone
(``SEGSTREAM_CHURN_LAPSE_MODEL=bgnbd``) against BG/NBD and Pareto/NBD (``auto``, the
default, and ``paretonbd``), on one core, no Kafka or Redis.

    python benchmarks/value_fit_cost.py --customers 20000 100000

Repeat histories are simulated from BG/NBD parameters near CDNOW's (r 0.24, alpha 4.4,
a 0.79, b 2.4; 39 weeks), spends from a Gamma. Each size is fitted twice per model: from the
default start (the first fit of a deployment), then warm-started from that fit's
parameters (every later refit), as ``agents/modelsync.py`` does. Wall time of
``fit_value``; the tier edges' scoring of everyone is included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from segstream.models.bgnbd import simulate
from segstream.models.value import ValueModel, fit_value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/results/value_fit_cost.jsonl")
    a = ap.parse_args()
    if any(n < 100 for n in a.customers):
        ap.error("--customers: at least 100")
    rows = []
    for n in a.customers:
        x, t_x, T = simulate(n, r=0.24, alpha=4.4, a=0.79, b=2.4, T=39.0, seed=a.seed)
        m_x = np.where(x > 0, np.random.default_rng(a.seed).gamma(6.0, 5.0, n), 0.0)
        for lapse in ("bgnbd", "auto", "paretonbd"):
            model = ValueModel(lapse_model=lapse)
            started = time.perf_counter()
            first = fit_value(model, x, t_x, T, m_x, as_of_us=0, version=1)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            fit_value(model, x, t_x, T, m_x, as_of_us=0, version=2, previous=first)
            warm = time.perf_counter() - started
            row = {"customers": n, "lapse_model": lapse, "cold_s": round(cold, 2), "warm_s": round(warm, 2)}
            rows.append(row | {"status": first.status, "seed": a.seed})
            print(f"{n:>9,} customers  {lapse:<9}  default start {cold:6.2f} s  warm {warm:6.2f} s  {first.status}")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with Path(a.json).open("a") as f:
        for row in rows:
            f.write(json.dumps(row | {"at": at}) + "\n")


if __name__ == "__main__":
    main()
