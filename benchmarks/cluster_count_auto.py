"""The cluster count the leader chooses over a whole replay (``SEGSTREAM_CLUSTERS=auto``),
beside the count told (5, the default), on the same simulated events.

    python benchmarks/cluster_count_auto.py --customers 3000 --days 180 --seeds 5 6

The replay of tests/unit/scoring/replay.py (the worker's step, the leader's publications,
the daily sweep; no Kafka or Redis), the leader learning from a slice of 2,000 customers a
day and publishing a cluster snapshot every event day; with ``auto``, every snapshot also
chooses the count (the live leader chooses at every 5th snapshot, every 10 s). For each
seed and configuration: the count at the end, every change of the count (event day, new
count, its score), and the ARI against the personas of every customer with purchases or
use, labelled by the final snapshot's centres. One JSON line per seed and configuration
(``benchmarks/results/cluster_count_auto.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import measured_commit
from rich.progress import Progress
from sklearn.metrics import adjusted_rand_score
from tests.unit.scoring.replay import T0, Replay, replay_events

from segstream.feeders.simulator import Simulator
from segstream.models.clusters import ClusterLearner
from segstream.models.decay import US_PER_DAY
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import Models
from segstream.streams.codec import to_us


def one(customers: int, days: int, seed: int, auto: bool) -> dict[str, object]:
    sim = Simulator(customers, T0, seed, comeback_share=0.0)
    persona = {c.customer_id: c.persona for c in sim.population}
    # the leader's learner as modelsync builds it (k_every 1: the replay publishes once a day)
    learner = ClusterLearner(n_clusters=5, seed=42, k_range=(2, 10) if auto else None)
    changes: list[tuple[int, int, float]] = []
    last = [0]

    def look(r: Replay, now: int) -> None:
        snap = r.models.cluster_snapshot
        last[0] = now
        if snap is not None and (not changes or changes[-1][1] != snap.k):
            changes.append(((now - to_us(T0)) // US_PER_DAY, snap.k, snap.k_score))

    started = time.monotonic()
    r = replay_events(
        sim.events(), T0, days + 1, Models(), look, value_every=1, learn_sample=2000, learner=learner
    )  # fmt: skip
    ids = [c for c, st in r.states.items() if st.purchases or st.usage]
    snap = r.models.cluster_snapshot
    assert snap is not None
    labels = snap.assign(behaviours([r.states[c] for c in ids], last[0], r.models))
    return {
        "seed": seed,
        "customers": customers,
        "days": days,
        "clusters": "auto" if auto else 5,
        "k_end": snap.k,
        "ari_vs_personas": round(float(adjusted_rand_score([persona[c] for c in ids], labels)), 4),
        "count_changes": len(changes) - 1,
        "changes": [[int(d), k, round(s, 3)] for d, k, s in changes],
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 6])
    ap.add_argument("--json", default="benchmarks/results/cluster_count_auto.jsonl")
    a = ap.parse_args()
    if a.customers < 100 or a.days < 1:
        ap.error("--customers >= 100 and --days >= 1")
    commit = measured_commit()
    rows = []
    with Progress() as progress:
        task = progress.add_task("replays", total=2 * len(a.seeds))
        for seed in a.seeds:
            for auto in (False, True):
                row = one(a.customers, a.days, seed, auto) | {"commit": commit}
                rows.append(row)
                progress.console.print(
                    f"seed {seed} clusters={row['clusters']}: k={row['k_end']} at the end, ARI "
                    f"{row['ari_vs_personas']}, {row['count_changes']} changes of the count {row['changes'][-6:]}"
                )
                progress.advance(task)
    with Path(a.json).open("a") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
