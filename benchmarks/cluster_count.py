"""How many clusters, when nobody says: which criterion finds the simulated personas' count?

    python benchmarks/cluster_count.py                       # 5 personas, seeds 1-3; 6 personas, seeds 1-2

In process, no Kafka or Redis. Each population (3,000 simulated customers, 180 event days
through the worker's pure core, ``benchmarks/cluster_features.py``'s replay) gives the
production behaviour vectors, z-scored as the leader's scaler does; on a seeded subsample
of 2,000 (what the leader can afford) every count k in 2..10 is fitted with scikit-learn's
KMeans (n_init 10), and each criterion picks one count:

silhouette          the mean silhouette, highest (the leader's criterion with ``SEGSTREAM_CLUSTERS=auto``)
calinski_harabasz   between / within dispersion, highest
davies_bouldin      mean over clusters of the worst (S_i + S_j) / d(c_i, c_j), lowest
xmeans_bic          Pelleg & Moore's spherical-Gaussian BIC of the k-means partition, highest
gmm_bic_diag        BIC of a diagonal Gaussian mixture (n_init 3), lowest
gap_1se             Tibshirani's gap (uniform reference in the principal-axes box, B = 10): the
                    smallest k with gap(k) >= gap(k+1) - s(k+1)
krzanowski_lai      |DIFF(k) / DIFF(k+1)|, DIFF(k) = (k-1)^(2/d) W(k-1) - k^(2/d) W(k), highest
prediction_strength Tibshirani & Walther (2005): the subsample split in two halves (5 random
                    splits), each clustered alone; PS(k) is the mean over the splits of the
                    smallest share, over the test half's clusters, of its pairs that the
                    training half's centres also put together; the largest k with PS >= 0.8

Reported: the count each criterion picks and the ARI against the personas of KMeans at
that count (all 3,000 customers), beside the ARI of every count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_features import BEHAVIOUR, simulate, vectors

ROOT = Path(__file__).resolve().parents[1]
KS = range(2, 11)


def xmeans_bic(x: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    n, d = x.shape
    k = len(centers)
    var = float(((x - centers[labels]) ** 2).sum()) / (d * (n - k))
    nj = np.bincount(labels, minlength=k).astype(float)
    nj = nj[nj > 0]
    ll = float((nj * np.log(nj / n)).sum()) - n * d / 2 * np.log(2 * np.pi * var) - d * (n - k) / 2
    return ll - ((k - 1) + k * d + 1) / 2 * np.log(n)


def gap_1se(x: np.ndarray, inertia: dict[int, float], seed: int, b: int = 10) -> int:
    rng = np.random.default_rng(seed)
    xc = x - x.mean(axis=0)
    box = xc @ np.linalg.svd(xc, full_matrices=False)[2].T
    lo, hi = box.min(axis=0), box.max(axis=0)
    ks = range(1, 12)
    ref = np.zeros((b, len(ks)))
    for i in range(b):
        u = rng.uniform(lo, hi, size=x.shape)
        for j, k in enumerate(ks):
            ref[i, j] = np.log(KMeans(k, n_init=3, random_state=i).fit(u).inertia_)
    gap = {k: ref[:, j].mean() - np.log(inertia[k]) for j, k in enumerate(ks)}
    se = {k: ref[:, j].std() * np.sqrt(1 + 1 / b) for j, k in enumerate(ks)}
    return next((k for k in KS if gap[k] >= gap[k + 1] - se[k + 1]), max(KS, key=gap.__getitem__))


def prediction_strength(x: np.ndarray, k: int, seed: int, splits: int = 5) -> float:
    """Tibshirani & Walther's prediction strength of ``k`` clusters, averaged over random halvings.

    Written again on scikit-learn's KMeans on purpose: an independent check of
    ``segstream.models.cluster_count.prediction_strength`` (the leader's numpy fits)."""
    rng = np.random.default_rng(seed)
    half = len(x) // 2
    strengths = []
    for s in range(splits):
        perm = rng.permutation(len(x))
        train, test = x[perm[:half]], x[perm[half:]]
        predicted = KMeans(k, n_init=10, random_state=s).fit(train).predict(test)
        own = KMeans(k, n_init=10, random_state=s).fit(test).labels_
        worst = 1.0
        for j in range(k):
            members = predicted[own == j]
            m = len(members)
            if m >= 2:
                counts = np.bincount(members, minlength=k).astype(float)
                worst = min(worst, float((counts * (counts - 1)).sum() / (m * (m - 1))))
        strengths.append(worst)
    return float(np.mean(strengths))


def choose(x: np.ndarray, seed: int, threshold: float = 0.8) -> dict[str, int]:
    fits = {k: KMeans(k, n_init=10, random_state=seed).fit(x) for k in range(1, 12)}
    lab = {k: f.labels_ for k, f in fits.items()}
    w = {k: float(f.inertia_) for k, f in fits.items()}
    d = x.shape[1]
    diff = {k: (k - 1) ** (2 / d) * w[k - 1] - k ** (2 / d) * w[k] for k in range(2, 12)}
    bic = {k: GaussianMixture(k, covariance_type="diag", n_init=3, random_state=seed).fit(x).bic(x) for k in KS}
    return {
        "silhouette": max(KS, key=lambda k: silhouette_score(x, lab[k])),
        "calinski_harabasz": max(KS, key=lambda k: calinski_harabasz_score(x, lab[k])),
        "davies_bouldin": min(KS, key=lambda k: davies_bouldin_score(x, lab[k])),
        "xmeans_bic": max(KS, key=lambda k: xmeans_bic(x, lab[k], fits[k].cluster_centers_)),
        "gmm_bic_diag": min(KS, key=bic.__getitem__),
        "gap_1se": gap_1se(x, w, seed),
        "krzanowski_lai": max(KS, key=lambda k: abs(diff[k] / diff[k + 1])),
        "prediction_strength": max((k for k in KS if prediction_strength(x, k, seed) >= threshold), default=min(KS)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=float, default=180.0)
    ap.add_argument("--five", type=int, nargs="*", default=[1, 2, 3], help="seeds of the 5-persona population")
    ap.add_argument("--six", type=int, nargs="*", default=[1, 2], help="seeds with the coupon hunters (6 personas)")
    ap.add_argument("--subsample", type=int, default=2000)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "cluster_count.jsonl")
    a = ap.parse_args()
    pops = [(5, s) for s in a.five] + [(6, s) for s in a.six]
    rows = []
    for personas, seed in pops:
        started = time.perf_counter()
        states, now, sim = simulate(a.customers, a.days, seed, 2000, coupon_hunters=personas == 6)
        persona = {c.customer_id: c.persona for c in sim.population}
        ids = sorted(c for c, st in states.items() if st.purchases or st.usage)
        truth = [persona[c] for c in ids]
        cols = vectors([states[c] for c in ids], now)
        x = np.column_stack([cols[f] for f in BEHAVIOUR])
        sd = x.std(axis=0)
        z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        sub = z[np.random.default_rng(0).permutation(len(z))[: a.subsample]]
        picks = choose(sub, 0)
        ari = {k: adjusted_rand_score(truth, KMeans(k, n_init=10, random_state=0).fit(sub).predict(z)) for k in KS}
        row = {"personas": personas, "seed": seed, "customers": len(ids), "picks": picks,
               "ari_by_k": {str(k): round(v, 4) for k, v in ari.items()},
               "seconds": round(time.perf_counter() - started, 1),
               "at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
        rows.append(row)
        with a.json.open("a") as f:
            f.write(json.dumps(row) + "\n")
    table = Table(title="count picked (ARI against the personas of KMeans at that count)")
    table.add_column("criterion")
    for r in rows:
        table.add_column(f"{r['personas']} personas, seed {r['seed']}", justify="right")
    for crit in rows[0]["picks"] if rows else []:
        table.add_row(crit, *(f"{r['picks'][crit]} ({r['ari_by_k'][str(r['picks'][crit])]:.2f})" for r in rows))
    table.add_row("(the best count)", *(max(r["ari_by_k"].items(), key=lambda kv: kv[1])[0] for r in rows))
    Console().print(table)


if __name__ == "__main__":
    main()
