"""Segment stability on a simulated population: volatility and flip-backs per dimension,
with the stabilising margins (docs/SEGMENTS.md) and without them, in the same run.

The population is replayed through the pure core (tests/unit/scoring/replay.py: the
worker's step, the leader's publications and the daily sweep, no Kafka or Redis), so the
two runs see the very same events.

    python benchmarks/stability.py --customers 400 --days 120 --seed 7 --batch 200

The RFM edges are published after every batch, as the live leader publishes them every
two seconds while batches flow.

Volatility of a dimension: segment changes (one drop and one add each) per customer in it
per event-hour, as ``(adds + drops) / size / hours``. Flip-back rate: the share of changes
that undo the customer's previous change of that dimension (A -> B -> A) within 24
event-hours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.scoring.replay import replay

from segstream.models.value import ValueModel
from segstream.scoring.models import Models
from segstream.streams.codec import to_us

HOUR_US = 3_600_000_000


def stability(changes: list[Any], customers: int, hours: float) -> dict[str, dict[str, float]]:
    last: dict[tuple[str, str], tuple[str | None, str, int]] = {}
    n: Counter[str] = Counter()
    back: Counter[str] = Counter()
    for c in sorted(changes, key=lambda c: to_us(c.ts)):
        key, t = (c.customer_id, c.dimension), to_us(c.ts)
        if c.from_segment is not None:  # a first assignment is not a move
            n[c.dimension] += 1
            prev = last.get(key)
            if prev and prev[0] == c.to_segment and prev[1] == c.from_segment and t - prev[2] <= 24 * HOUR_US:
                back[c.dimension] += 1
        last[key] = (c.from_segment, c.to_segment, t)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for dim in sorted(n):
        out[dim] = {
            "changes": n[dim],
            "volatility_per_hour": round(2 * n[dim] / customers / hours, 6),
            "flip_back_rate": round(back[dim] / n[dim], 4) if n[dim] else 0.0,
        }
    return dict(out)


def run(customers: int, days: int, seed: int, stable: bool, batch: int) -> dict[str, Any]:
    models = Models(value=ValueModel(min_customers=30))
    if not stable:
        models.value_margin = models.cluster_margin = 0.0
        models.rfm_margin, models.rfm_margin_days = 0.0, 0.0
    started = time.perf_counter()
    r = replay(customers, days, seed, models, comeback_share=0.3, batch=batch, rfm_every_batch=True)
    return {
        "stabilised": stable,
        "seconds": round(time.perf_counter() - started, 1),
        "dimensions": stability(r.changes, customers, days * 24),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=200, help="events per batch; RFM edges are published after each")
    ap.add_argument("--out", default="benchmarks/results/stability.jsonl")
    a = ap.parse_args()
    rows = [run(a.customers, a.days, a.seed, stable, a.batch) for stable in (False, True)]
    with Path(a.out).open("a") as f:
        for row in rows:
            row |= {"customers": a.customers, "days": a.days, "seed": a.seed, "batch": a.batch}
            f.write(json.dumps(row) + "\n")
            print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
