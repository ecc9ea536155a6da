"""Cluster features (issue 18 §4): do the purchase-mix features help the behaviour clusters
find the personas? ARI against the simulated personas, with and without them, on a
population that includes the coupon hunters (buy like "loyal", but mostly with a coupon).

    python benchmarks/cluster_features.py --customers 3000 --days 180 --seeds 1 2 3 4 5

In process, no Kafka, no Redis. For each seed: the simulator's events (``coupon_hunters=True``)
up to ``--days`` of event time (180: about the 370,000 events of 3,000 customers of the
integration test that measures ARI) go through the worker's pure core (``apply_events``,
batches of ``--batch``); then, as of the last event, every customer with a purchase or a use gets

six           the behaviour vector before issue 18 (scoring/behaviour.py: spend,
              frequency, recency, usage rate and trend, satisfaction)
production    ... and ``discount``, the share of orders on a discount or coupon: the vector
              in production since 2026-12-03 (``behaviours`` as the worker computes it)
+channel,cat  the six and ``channel_share`` and ``categories`` (a control: the coupon
              hunters use the same channels and categories as the loyal customers)
+mix          the six and all five numeric mix features (discount share, discount spend
              share, discount depth, channel share, categories)

Each set is clustered the project's way: models/clusters.py ``ClusterLearner`` (River
StandardScaler + KMeans, farthest-point seeds, the leader's batch refinement), k = the number
of personas, fed every customer's vector ``--passes`` times in shuffled order (the leader
looks at each customer many times: the integration test waits for 40 looks), then every
customer assigned to its nearest centre. The learner reads the module's ``FEATURES``, so the
extended sets swap it for the run (nothing in src/ changes). As a cross-check, scikit-learn
KMeans (z-scores, n_init 10) on the same vectors. Reported: ARI against the personas (all
customers), and ARI within the loyal + coupon hunter customers only ("L|C": 1.0, the two
personas split cleanly; 0, not at all). The reference row is the default population (no
coupon hunters, k 5, same seeds) with the six and with the production vector: what the
discount share does where no persona is defined by coupons (``--no-reference`` skips it).
A table per run (mean and spread over the seeds); one JSON line per run appended to --json (default
benchmarks/results/cluster_features.jsonl).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

import segstream  # noqa: E402
from segstream.agents.step import apply_events, positioned  # noqa: E402
from segstream.feeders.simulator import Simulator  # noqa: E402
from segstream.models import clusters  # noqa: E402
from segstream.models.clusters import ClusterLearner, ClusterSnapshot  # noqa: E402
from segstream.scoring.behaviour import behaviours  # noqa: E402
from segstream.scoring.models import Models  # noqa: E402
from segstream.state.customer import CustomerState  # noqa: E402
from segstream.state.keys import source_field  # noqa: E402
from segstream.state.store import Loaded  # noqa: E402
from segstream.streams import kinds  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PARTITIONS = 8
BEHAVIOUR = tuple(clusters.FEATURES)  # production: the six and "discount"
SIX = BEHAVIOUR[:6]
MIX = ("discount_share", "discount_spend_share", "discount_depth", "channel_share", "categories")
SETS: dict[str, tuple[str, ...]] = {
    "six": SIX,
    "production (six + discount)": BEHAVIOUR,
    "+channel,cat": (*SIX, "channel_share", "categories"),
    "+mix": (*SIX, *MIX),
}
PAIR = ("loyal", "coupon_hunter")
REFERENCE = "reference (5 personas, k 5): six"
REFERENCE_DISCOUNT = "reference (5 personas, k 5): production"


def simulate(
    customers: int, days: float, seed: int, batch: int, coupon_hunters: bool = True
) -> tuple[dict[str, CustomerState], int, Simulator]:
    """The customers' states after ``days`` of simulated events through the pure core."""
    sim = Simulator(customers, T0, seed, coupon_hunters=coupon_hunters)
    end = T0 + timedelta(days=days)
    offsets: Counter[str] = Counter()
    states: dict[str, CustomerState] = {}
    clock: dict[str, int] = {"global": 0}
    models = Models()

    def batches() -> Iterator[list[Any]]:
        out = []
        for ev in takewhile(lambda e: e.ts < end, sim.events()):
            kind = kinds.BY_SCHEMA[type(ev)].name
            src = source_field(kind, zlib.crc32(ev.customer_id.encode()) % PARTITIONS)
            out.append(positioned(ev, src, offsets[src]))
            offsets[src] += 1
            if len(out) == batch:
                yield out
                out = []
        if out:
            yield out

    for b in batches():
        ids = dict.fromkeys(p.event.customer_id for p in b)
        loaded = {c: Loaded(0, states.get(c) or CustomerState()) for c in ids}
        out = apply_events(loaded, b, clock["global"], models, clocks=clock, score=False)
        clock = out.clock
        for item in out.items:
            states[item.customer_id] = item.state
    return states, clock["global"], sim


def vectors(states: list[CustomerState], now: int) -> dict[str, np.ndarray]:
    """Column of each feature: the behaviour vector's, and the purchase mix's (0 without purchases)."""
    models = Models()
    x = behaviours(states, now, models)
    cols = {f: x[:, i] for i, f in enumerate(BEHAVIOUR)}
    mix = [
        models.mix.predict_one(st.mix, st.purchases.count, st.purchases.spend_minor) if st.purchases else None
        for st in states
    ]
    for f in MIX:
        cols[f] = np.array([float(getattr(m, f) or 0.0) if m else 0.0 for m in mix])
    return cols


@contextmanager
def learner_features(names: tuple[str, ...]) -> Iterator[None]:
    """The cluster learner reads the module's FEATURES: these ones for the while."""
    saved = clusters.FEATURES
    clusters.FEATURES = names  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        clusters.FEATURES = saved  # type: ignore[misc]


def river_labels(x: np.ndarray, names: tuple[str, ...], k: int, passes: int, seed: int) -> np.ndarray:
    """The project's learner (River StandardScaler + KMeans, refined as the leader does), fed
    every row ``passes`` times in shuffled order; each row's nearest centre."""
    rng = np.random.default_rng(seed)
    with learner_features(names):
        learner = ClusterLearner(n_clusters=k, seed=seed)
        rows = x.tolist()
        for _ in range(passes):
            for i in rng.permutation(len(rows)):
                learner.learn_one(dict(zip(names, rows[i], strict=True)))
        learner.refine()
        mean, std, centers = learner._state()
    snap = ClusterSnapshot(1, list(range(k)), centers.tolist(), mean.tolist(), std.tolist(), {}, k, learner.learned)
    labels: np.ndarray = snap.assign(x)
    return labels


def sklearn_labels(x: np.ndarray, k: int) -> np.ndarray:
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    labels: np.ndarray = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(z)
    return labels


def scores(truth: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    pair = np.isin(truth, PAIR)
    within = adjusted_rand_score(truth[pair], labels[pair]) if (truth == PAIR[1]).any() else None
    return {
        "ari": round(float(adjusted_rand_score(truth, labels)), 4),
        "ari_loyal_vs_coupon": None if within is None else round(float(within), 4),
    }


def run_seed(a: argparse.Namespace, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    out: dict[str, Any] = {"seed": seed, "sets": {}}
    populations = [(True, SETS)] + ([(False, {REFERENCE: SIX, REFERENCE_DISCOUNT: BEHAVIOUR})] if a.reference else [])
    for hunters, sets in populations:
        t1 = time.perf_counter()
        states, now, sim = simulate(a.customers, a.days, seed, a.batch, coupon_hunters=hunters)
        persona = {c.customer_id: c.persona for c in sim.population}
        ids = sorted(c for c, st in states.items() if st.purchases or st.usage)
        truth = np.array([persona[c] for c in ids])
        cols = vectors([states[c] for c in ids], now)
        k = len(sim.personas)
        if hunters:
            out |= {"customers": len(ids), "k": k, "simulate_s": round(time.perf_counter() - t1, 1)}
        for name, feats in sets.items():
            x = np.column_stack([cols[f] for f in feats])
            t2 = time.perf_counter()
            river = scores(truth, river_labels(x, feats, k, a.passes, seed))
            t3 = time.perf_counter()
            batch = scores(truth, sklearn_labels(x, k)) if a.sklearn else {}
            out["sets"][name] = {"river": river, "sklearn": batch, "river_s": round(t3 - t2, 1), "k": k}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def spread(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < len(values):
        return "-"
    mean = statistics.fmean(known)
    return f"{mean:.3f} ± {statistics.stdev(known):.3f}" if len(known) > 1 else f"{mean:.3f}"


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in runs[0]["sets"]:
        for method in ("river", "sklearn"):
            for metric in ("ari", "ari_loyal_vs_coupon"):
                vals = [r["sets"][name][method].get(metric) for r in runs]
                vals = [v for v in vals if v is not None]
                if vals:
                    out.setdefault(name, {}).setdefault(method, {})[metric] = {
                        "per_seed": vals,
                        "mean": round(statistics.fmean(vals), 4),
                        "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                        "min": min(vals),
                        "max": max(vals),
                    }
    return out


def table(runs: list[dict[str, Any]], sklearn: bool) -> Table:
    t = Table(title=f"ARI vs the {runs[0]['k']} personas (k = {runs[0]['k']}), {len(runs)} seed(s): mean ± sd")
    t.add_column("features")
    t.add_column("River ARI", justify="right")
    t.add_column("River L|C", justify="right")
    if sklearn:
        t.add_column("sklearn ARI", justify="right")
        t.add_column("sklearn L|C", justify="right")
    t.add_column("River ARI per seed")
    for name in runs[0]["sets"]:
        row = [name]
        for method in ("river", "sklearn") if sklearn else ("river",):
            for metric in ("ari", "ari_loyal_vs_coupon"):
                row.append(spread([r["sets"][name][method][metric] for r in runs]))
        row.append(" ".join(f"{r['sets'][name]['river']['ari']:.3f}" for r in runs))
        t.add_row(*row)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=float, default=180.0, help="days of simulated event time")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--passes", type=int, default=40, help="looks of the River learner at each customer")
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--no-sklearn", dest="sklearn", action="store_false", help="skip the scikit-learn cross-check")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the default population")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "cluster_features.jsonl")
    a = ap.parse_args()
    console = Console(stderr=True)
    t0 = time.perf_counter()
    runs = []
    cols = [TextColumn("seed {task.fields[seed]}"), BarColumn(), TextColumn("{task.completed}/{task.total}")]
    with Progress(*cols, TimeElapsedColumn(), console=console, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("seeds", total=len(a.seeds), seed=a.seeds[0])
        for seed in a.seeds:
            bar.update(task, seed=seed)
            runs.append(run_seed(a, seed))
            bar.advance(task)
    Console(width=max(Console().width, 130)).print(table(runs, a.sklearn))
    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": a.label,
        "code": str(Path(segstream.__file__).parent),
        "customers": a.customers,
        "days": a.days,
        "seeds": a.seeds,
        "passes": a.passes,
        "k": runs[0]["k"],
        "sets": {name: list(feats) for name, feats in SETS.items()},
        "summary": summary(runs),
        "runs": runs,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"{result['seconds']} s in all; appended to {a.json}")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    with a.json.open("a") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
