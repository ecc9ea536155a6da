"""Where the count of clusters is chosen from: the leader's reservoir against the current
states of the whole population, every few event days of a pure replay (no Kafka or Redis).

    python benchmarks/cluster_count_replay.py --customers 3000 --days 180 --seed 5

The replay of tests/unit/scoring/replay.py, with the leader learning from a slice of 2,000
customers a day (its SCAN cursor). Every ``--every`` event days, the prediction strength
of 2..10 clusters (``models/cluster_count.py``, the leader's own functions, one seed) on:

- ``reservoir``: the learner's last 5,000 vectors, scaled as they were learned (what the
  leader chooses on with ``SEGSTREAM_CLUSTERS=auto``);
- ``states``: every customer with purchases or use, its behaviour vector as of that day,
  z-scored afresh over the population.

For each, the count picked (``pick_by_strength``, no current count), the strengths of 4,
5 and 6, and the ARI against the personas of the population labelled by that pick's
centres (the reservoir's in the learner's scaling). One JSON line per day.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import adjusted_rand_score
from tests.unit.scoring.replay import T0, Replay, replay_events

from segstream.feeders.simulator import Simulator
from segstream.models.cluster_count import nearest, pick_by_strength, strength_counts
from segstream.models.decay import US_PER_DAY
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import Models
from segstream.streams.codec import to_us


def zscore(pts: np.ndarray) -> np.ndarray:
    sd = pts.std(axis=0)
    return (pts - pts.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--every", type=int, default=15, help="event days between two looks")
    ap.add_argument("--json", default="benchmarks/results/cluster_count_replay.jsonl")
    a = ap.parse_args()
    if a.customers < 100 or a.days < 1 or a.every < 1:
        ap.error("--customers >= 100, --days and --every >= 1")
    sim = Simulator(a.customers, T0, a.seed, comeback_share=0.0)
    persona = {c.customer_id: c.persona for c in sim.population}
    rows: list[dict[str, object]] = []

    def look(r: Replay, now: int) -> None:
        day = (now - to_us(T0)) // US_PER_DAY
        if day % a.every:
            return
        ids = [c for c, st in r.states.items() if st.purchases or st.usage]
        raw = behaviours([r.states[c] for c in ids], now, r.models)
        truth = [persona[c] for c in ids]
        mean, std, _ = r.learner._state()
        row: dict[str, object] = {"day": int(day), "customers": len(ids), "seed": a.seed}
        for name, pts, label_space in (
            ("reservoir", r.learner.recent, (raw - mean) / std),
            ("states", zscore(raw), zscore(raw)),
        ):
            fits = strength_counts(pts, range(2, 11), seed=a.seed)
            strength = {f.k: f.score for f in fits}
            k = pick_by_strength(strength, None)
            centers = next(f.centers for f in fits if f.k == k)
            ari = adjusted_rand_score(truth, nearest(label_space, centers))
            row[name] = {"k": k, "ari": round(ari, 3), **{f"s{j}": round(strength[j], 3) for j in (4, 5, 6)}}
        rows.append(row)
        res, st = row["reservoir"], row["states"]
        print(
            f"day {day:>3}  reservoir: k={res['k']} (ARI {res['ari']:.2f}, strength of 5 {res['s5']:.2f})  "  # type: ignore[index]
            f"states: k={st['k']} (ARI {st['ari']:.2f}, strength of 5 {st['s5']:.2f})",  # type: ignore[index]
            flush=True,
        )

    replay_events(sim.events(), T0, a.days + 1, Models(), look, value_every=7, learn_sample=2000)
    with Path(a.json).open("a") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
