"""The leader's own count criteria on populations whose count is known: the synthetic groups
of tests/unit/models/test_clusters_count.py and the simulated personas.

    python benchmarks/cluster_count_synthetic.py          # synthetic groups only (~10 s)
    python benchmarks/cluster_count_synthetic.py --sim    # and the simulated personas (~2 min)

In process, numpy only (the production functions of ``segstream.models.cluster_count``).
Each population is z-scored and subsampled to 2,000 vectors (what the leader fits on); for
every count k in 2..10 the prediction strength (5 halvings) and the silhouette (on 1,000 of
them) of the leader's k-means fits are computed. Printed: the strength of each count, the
count each criterion picks (prediction strength: the largest at 0.8 or above, also at 0.85
and 0.9; silhouette: the highest) and the ARI against the truth of the leader's fit at that
count, labelling every vector. ``--json`` appends one line per population.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.unit.models.test_clusters_count import AXES, D, draw, noisier, personas, zscored  # noqa: E402

from segstream.models.cluster_count import fit_count, nearest, prediction_strength, score_counts  # noqa: E402

KS = range(2, 11)


def assess(name: str, x: np.ndarray, truth: list[object] | np.ndarray) -> dict[str, object]:
    sub = x[np.random.default_rng(0).permutation(len(x))[:2000]]
    strength = {k: round(prediction_strength(sub, k, np.random.default_rng(1)), 3) for k in KS}
    sil = {s.k: round(s.score, 3) for s in score_counts(sub, KS, seed=1)}
    picks = {f"strength_{th}": max((k for k in KS if strength[k] >= th), default=min(KS)) for th in (0.8, 0.85, 0.9)}
    picks["silhouette"] = max(KS, key=sil.__getitem__)
    ari = {}
    for k in sorted(set(picks.values())):
        centres = fit_count(sub, k, np.random.default_rng(2))
        ari[k] = round(adjusted_rand_score(truth, nearest(x, centres)), 3)
    row = {"population": name, "strength": strength, "silhouette": sil, "picks": picks, "ari_at_pick": ari}
    print(f"{name:32s} " + "  ".join(f"{c}: {k} (ARI {ari[k]:.2f})" for c, k in picks.items()), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", action="store_true", help="also the simulated personas (5: seeds 1-3; 6: seeds 1-2)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "cluster_count_synthetic.jsonl")
    a = ap.parse_args()
    rows = []
    x, y = personas(6000, np.random.default_rng(7))
    rows.append(assess("six overlapping groups", zscored(x), y))
    for f in (1.18, 1.41, 1.65):
        x, y = personas(6000, np.random.default_rng(7))
        rows.append(assess(f"six groups, {f}x their noise", zscored(noisier(x, y, f)), y))
    for k in (3, 4, 6):
        x, y = draw(list(AXES[:k]), 4000, np.random.default_rng(k))
        rows.append(assess(f"{k} blobs 8 sd apart", x, y))
    x, y = draw([np.zeros(D), np.eye(D)[0] * 12, np.eye(D)[1] * 25], 4000, np.random.default_rng(1))
    rows.append(assess("3 blobs, 12 and 25 sd apart", x, y))
    if a.sim:
        from cluster_features import BEHAVIOUR, simulate, vectors

        for n, seed in [(5, 1), (5, 2), (5, 3), (6, 1), (6, 2)]:
            states, now, sim = simulate(3000, 180.0, seed, 2000, coupon_hunters=n == 6)
            persona = {c.customer_id: c.persona for c in sim.population}
            ids = sorted(c for c, st in states.items() if st.purchases or st.usage)
            cols = vectors([states[c] for c in ids], now)
            x = np.column_stack([cols[f] for f in BEHAVIOUR])
            rows.append(assess(f"{n} personas, seed {seed}", zscored(x), [persona[c] for c in ids]))
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with a.json.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row | {"at": at}) + "\n")


if __name__ == "__main__":
    main()
