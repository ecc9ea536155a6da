"""Churn alerts on a simulated population whose churn times are known: precision of "high"
(among customers ever flagged high, the share that truly churned), recall, and the median
event-time delay from churn to the first alert, through the pure core (the replay of
tests/unit/scoring/replay.py: no Kafka or Redis, same events every run).

    python benchmarks/churn_alerts.py --customers 400 --days 240 --seed 11

Five configurations on the same events (``--configs`` picks some): ``alone``, BG/NBD's
purchase lapse counted alone; ``silence``, with the usage-silence rule
(``SEGSTREAM_CHURN_LAPSE_NEEDS_SILENCE``, the default);
``dropout``, with, in addition, a one-time buyer's chance of having dropped out after its
first purchase (``SEGSTREAM_CHURN_ONE_TIME_DROPOUT``, off by default: it lifts the median
delay, docs/QUALITY.md); ``pareto``, the lapse from Pareto/NBD for everyone
(``SEGSTREAM_CHURN_LAPSE_MODEL=paretonbd``); ``auto`` (the default lapse model since the
end of 2026-12-05), Pareto/NBD's for customers with purchases only and BG/NBD's for product
users.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.scoring.replay import T0, replay

from segstream.evaluation import churn_delays
from segstream.feeders.simulator import Simulator
from segstream.models.churn import ChurnModel
from segstream.models.value import ValueModel
from segstream.scoring.models import Models

#: Short name: (label in the results, churn model, one-time dropout, lapse model).
CONFIGS: dict[str, tuple[str, ChurnModel, bool, str]] = {
    "alone": ("purchase lapse alone (before)", ChurnModel(lapse_needs_silence=False), False, "bgnbd"),
    "silence": ("lapse needs usage silence", ChurnModel(), False, "bgnbd"),
    "dropout": ("and a one-time buyer may have dropped out", ChurnModel(), True, "bgnbd"),
    "pareto": ("Pareto/NBD lapse, needs usage silence", ChurnModel(), False, "paretonbd"),
    "auto": ("auto lapse: Pareto/NBD without usage, BG/NBD with", ChurnModel(), False, "auto"),
}


def run(customers: int, days: int, seed: int, label: str, models: Models, value_every: int = 7) -> dict[str, Any]:
    started = time.perf_counter()
    r = replay(customers, days, seed, models, comeback_share=0.0, value_every=value_every)
    end = days
    sim = Simulator(customers, T0, seed, comeback_share=0.0)
    churn_at = {
        c.customer_id: (c.churn_at - T0) / timedelta(days=1)
        for c in sim.population
        if c.churn_at and c.churn_at < T0 + timedelta(days=end) and c.customer_id in r.states
    }
    alerts = [(e.customer_id, (e.ts - T0) / timedelta(days=1), e.level) for e in r.churn]
    flagged = {cid for cid, _, level in alerts if level == "high"}
    hit = flagged & set(churn_at)
    stayed = {c.customer_id for c in sim.population if c.churn_at is None and c.customer_id in r.states}
    return {
        "label": label,
        "customers": len(r.states),
        "days": days,
        "seed": seed,
        "churned": len(churn_at),
        "flagged": len(flagged),
        "precision": round(len(hit) / len(flagged), 4) if flagged else None,
        "recall": round(len(hit) / len(churn_at), 4) if churn_at else None,
        "never_churning_alerted": round(len(flagged & stayed) / len(stayed), 4) if stayed else None,
        "value_every_days": value_every,
        "delay_days": {k: round(v, 2) for k, v in churn_delays(churn_at, alerts, end).items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--days", type=int, default=240)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--value-every", type=int, default=7, help="event days between value fits (the test's: 1)")
    ap.add_argument("--out", default="benchmarks/results/churn_alerts.jsonl")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    a = ap.parse_args()
    chosen = a.configs.split(",")
    if unknown := sorted(set(chosen) - set(CONFIGS)):
        ap.error(f"unknown configuration {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    rows = [
        run(
            a.customers,
            a.days,
            a.seed,
            label,
            Models(value=ValueModel(min_customers=30, one_time_dropout=drop, lapse_model=lapse), churn=churn),
            a.value_every,
        )
        for label, churn, drop, lapse in (CONFIGS[c] for c in chosen)
    ]
    with Path(a.out).open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
            print(json.dumps(row))


if __name__ == "__main__":
    main()
