"""Segment stability on a simulated population: volatility and flip-backs per dimension,
with the stabilising margins (docs/SEGMENTS.md) and without them, in the same run.

The population is replayed through the pure core (tests/unit/scoring/replay.py: the
worker's step, the leader's publications and the daily sweep, no Kafka or Redis), so the
two runs see the very same events.

    python benchmarks/stability.py --customers 400 --days 120 --seed 7 --batch 200
    python benchmarks/stability.py --cdnow ../shared/data/cdnow/CDNOW_master.txt --batch 200

``--cdnow PATH`` replays the CDNOW purchases (master or sample file) instead of the
simulator, over their whole span (no usage, feedback or profiles: the dimensions a retail
stream has); the clusters then learn from a slice of at most ``--learn-sample`` customers a
day, as the leader learns from a slice of the population per tick.

The RFM edges are published after every batch, as the live leader publishes them every
two seconds while batches flow.

Volatility of a dimension: segment changes (one drop and one add each) per customer in it
per event-hour, as ``(adds + drops) / size / hours``. Flip-back rate: the share of changes
that undo the customer's previous change of that dimension (A -> B -> A) within 24
event-hours (``flip_back_rate``; also within 72 hours and 7 days: a rule that only holds
moves for a day would push flip-backs past 24 hours without removing them). The run without
the stabilisers turns off the margins, the value tiers' down-on-a-purchase rule and the
cluster centres' speed limit (``--cluster-max-step``). Clusters also
report ``not_nearest_at_end``: the share of clustered customers whose cluster at the end is
not their nearest centre's (the cost of the margin). RFM also reports ``batch_agreement``:
the share of buyers whose RFM segment at the end is the one the batch reference names (R,
F, M by pandas quintiles of the raw purchases as of the end, :func:`rfm_reference`; R held
to the recency bands from the days since the last purchase, as docs/SEGMENTS.md defines the
names), the issue's ">= 98% for RFM" next to the same figure without the margins; and
``batch_agreement_rescored``, the same once every customer is scored again as of the end.
Every dimension reports ``exact_at_end_rescored``: every customer re-scored as of the end
on the final snapshots, with the stabilisers and (a copy) without them, the share whose
segment is the same (what the stabilisers cost). Each stabiliser is a setting of the run
(``--cluster-margin``, ``--cluster-max-step``, ``--value-margin``, ``--rfm-margin``,
``--rfm-margin-days``; the defaults unless told).

``--reference-hours H`` (1 by default; 0: off) adds a third row, ``reference``: the batch
reference's own RFM segments, computed afresh every H event-hours from the purchases before
that moment (the same pandas quintiles and names), with their moves counted as the
stream's are: how much a batch CRM that re-ran every H hours would move and flip back.
A stream that agreed with it at every moment would move as it does. Moves within an
H-hour step are not seen, so its flip-back rates are a lower bound.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from harness import measured_commit
from tests.unit.scoring.replay import T0, Replay, replay, replay_events

from segstream.evaluation import rfm_reference
from segstream.feeders.cdnow import cdnow_events, read_cdnow
from segstream.feeders.simulator import Simulator
from segstream.models.clusters import MAX_STEP, ClusterLearner
from segstream.models.rfm import segment_of
from segstream.models.value import ValueModel
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import Models, cluster_number
from segstream.streams.codec import to_us
from segstream.streams.schemas import Purchase

HOUR_US = 3_600_000_000
WINDOWS = {"flip_back_rate": 24, "flip_back_rate_72h": 72, "flip_back_rate_7d": 168}


def stability(changes: list[Any], customers: int, hours: float) -> dict[str, dict[str, float]]:
    last: dict[tuple[str, str], tuple[str | None, str, int]] = {}
    n: Counter[str] = Counter()
    back: dict[str, Counter[str]] = {name: Counter() for name in WINDOWS}
    for c in sorted(changes, key=lambda c: to_us(c.ts)):
        key, t = (c.customer_id, c.dimension), to_us(c.ts)
        if c.from_segment is not None:  # a first assignment is not a move
            n[c.dimension] += 1
            prev = last.get(key)
            if prev and prev[0] == c.to_segment and prev[1] == c.from_segment:
                for name, window_h in WINDOWS.items():
                    back[name][c.dimension] += t - prev[2] <= window_h * HOUR_US
        last[key] = (c.from_segment, c.to_segment, t)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for dim in sorted(n):
        out[dim] = {
            "changes": n[dim],
            "volatility_per_hour": round(2 * n[dim] / customers / hours, 6),
        } | {name: round(back[name][dim] / n[dim], 4) if n[dim] else 0.0 for name in WINDOWS}
    return dict(out)


def not_nearest(r: Replay, now_us: int) -> float:
    """Share of the clustered customers whose cluster is not their nearest centre's as of
    ``now_us`` (what the margin keeps them in)."""
    snap = r.models.cluster_snapshot
    held = [st for st in r.states.values() if cluster_number(st.segments.get("cluster")) is not None]
    if snap is None or not held:
        return 0.0
    x = behaviours(held, now_us, r.models)
    current = np.array([cluster_number(st.segments["cluster"]) for st in held], dtype=np.int64)
    under = np.array([st.cluster_rebuilt for st in held], dtype=np.int64)
    return round(float((snap.assign(x, current, r.models.cluster_margin, under) != snap.assign(x)).mean()), 4)


def simulated_purchases(customers: int, days: int, seed: int) -> pd.DataFrame:
    """The simulated population's purchases before the end of the replay."""
    end = T0 + timedelta(days=days)
    rows = []
    for e in Simulator(customers, T0, seed, signup_days=30.0, comeback_share=0.3).events():
        if e.ts >= end:  # in time order, without end: as the replay stops
            break
        if isinstance(e, Purchase):
            rows.append((e.customer_id, e.ts, e.amount))
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def reference_segments(models: Models, purchases: pd.DataFrame, end: datetime) -> dict[str, str]:
    """The RFM segment the batch reference names for each buyer as of ``end``."""
    if purchases.empty:
        return {}
    ref = rfm_reference(purchases[["customer_id", "date", "amount"]], pd.Timestamp(end))
    life = models.lifecycle
    days_since = ((pd.Timestamp(end) - ref["last"]) / pd.Timedelta(days=1)).to_numpy()  # as the stream counts them
    r_named = np.where(
        days_since < life.at_risk_days,
        np.maximum(ref["R"], 3),
        np.where(days_since < life.churn_days, np.minimum(ref["R"], 2), 1),
    )
    return {
        c: segment_of(int(rr), (int(f) + int(m) + 1) // 2)
        for c, rr, f, m in zip(ref.index, r_named, ref["F"], ref["M"], strict=True)
    }


def batch_agreement(r: Replay, expected: dict[str, str]) -> float:
    """Share of the buyers whose held RFM segment is the batch reference's."""
    if not expected:
        return 0.0
    held = [(st.segments.get("rfm") if (st := r.states.get(c)) else None) == x for c, x in expected.items()]
    return round(float(np.mean(held)), 4)


def exact_share(held: Replay, exact: Replay, dimension: str) -> float:
    """Share of the customers with a segment of ``dimension`` whose segment in ``held`` is
    the one ``exact`` (the same replay re-scored without stabilisers) names."""
    named = [(st.segments.get(dimension), exact.states[c].segments.get(dimension)) for c, st in held.states.items()]
    named = [(a, b) for a, b in named if a is not None or b is not None]
    return round(float(np.mean([a == b for a, b in named])), 4) if named else 0.0


@dataclass(frozen=True)
class Move:
    """A segment change of the batch reference, shaped as the stream's for :func:`stability`."""

    customer_id: str
    dimension: str
    from_segment: str | None
    to_segment: str
    ts: datetime


def reference_timeline(
    purchases: pd.DataFrame, start: datetime, end: datetime, hours: float
) -> Iterator[tuple[datetime, dict[str, str]]]:
    """The batch reference's RFM segments every ``hours`` event-hours after ``start`` up to
    ``end``, each from the purchases before that moment."""
    models = Models()
    ordered = purchases.sort_values("date", kind="stable")
    ns = pd.DatetimeIndex(ordered["date"]).as_unit("ns").asi8  # UTC nanoseconds, tz-aware or not
    step = timedelta(hours=hours)
    at = start + step
    while at <= end:
        seen = ordered.iloc[: int(np.searchsorted(ns, pd.Timestamp(at).value, "left"))]
        yield at, reference_segments(models, seen, at)
        at += step


def reference_run(purchases: pd.DataFrame, start: datetime, end: datetime, hours: float) -> dict[str, Any]:
    """The batch reference's RFM segments every ``hours`` event-hours from ``start`` to
    ``end``, from the purchases before each moment; its moves' volatility and flip-backs."""
    started = time.perf_counter()
    held: dict[str, str] = {}
    moves: list[Move] = []
    for at, segments in reference_timeline(purchases, start, end, hours):
        for c, seg in segments.items():
            if held.get(c) != seg:
                moves.append(Move(c, "rfm", held.get(c), seg, at))
                held[c] = seg
    customers = purchases["customer_id"].nunique()
    return {
        "reference_every_hours": hours,
        "seconds": round(time.perf_counter() - started, 1),
        "dimensions": stability(moves, customers, (end - start) / timedelta(hours=1)),
    }


@dataclass(frozen=True)
class Population:
    """What is replayed: the simulator's (``cdnow`` None) or a CDNOW file's purchases."""

    customers: int
    days: int
    seed: int
    batch: int
    cdnow: Path | None = None
    learn_sample: int = 2000
    auto: bool = False  # the count chosen from the data between 2 and 10, at every snapshot

    def learner(self) -> ClusterLearner | None:
        """The replay's cluster learner (None: its own, 4 clusters told)."""
        return ClusterLearner(n_clusters=4, seed=1, k_range=(2, 10), k_every=1) if self.auto else None

    def purchases(self) -> pd.DataFrame:
        if self.cdnow is None:
            return simulated_purchases(self.customers, self.days, self.seed)
        return read_cdnow(self.cdnow)

    def about(self) -> dict[str, Any]:
        """What a result row names the population by."""
        if self.cdnow is not None:
            return {"data": self.cdnow.name}
        return {"customers": self.customers, "days": self.days, "seed": self.seed}

    def span(self, purchases: pd.DataFrame) -> tuple[datetime, datetime]:
        """The replay's start and end (the event time every customer is scored at last)."""
        if self.cdnow is None:
            return T0, T0 + timedelta(days=self.days)
        t0 = purchases["date"].min().to_pydatetime()
        days = int((purchases["date"].max() - purchases["date"].min()) / pd.Timedelta(days=1)) + 1
        return t0, t0 + timedelta(days=days)

    def replay(self, models: Models, purchases: pd.DataFrame, max_step: float) -> tuple[Replay, datetime, datetime]:
        """The replay, its start and its end (the event time every customer is scored at last);
        ``max_step``: the cluster centres' speed limit."""
        if self.cdnow is None:
            r = replay(self.customers, self.days, self.seed, models, comeback_share=0.3, batch=self.batch,
                       rfm_every_batch=True, max_step=max_step, learner=self.learner())  # fmt: skip
            return r, T0, T0 + timedelta(days=self.days)
        t0, end = self.span(purchases)
        r = replay_events(cdnow_events(purchases), t0, (end - t0).days, models, batch=self.batch, rfm_every_batch=True,
                          learn_sample=self.learn_sample, max_step=max_step, learner=self.learner())  # fmt: skip
        return r, t0, end


@dataclass(frozen=True)
class Stabilisers:
    """The stabilised run's settings (the defaults unless told); :data:`WITHOUT` turns every
    one off."""

    cluster_margin: float = Models().cluster_margin
    cluster_max_step: float = MAX_STEP
    value_margin: float = Models().value_margin
    rfm_margin: float = Models().rfm_margin
    rfm_margin_days: float = Models().rfm_margin_days
    value_down_on_purchase: bool = Models().value_down_on_purchase

    def apply(self, models: Models) -> Models:
        """``models`` with these stabilisers (the centres' speed limit is the replay's)."""
        models.cluster_margin, models.value_margin = self.cluster_margin, self.value_margin
        models.rfm_margin, models.rfm_margin_days = self.rfm_margin, self.rfm_margin_days
        models.value_down_on_purchase = self.value_down_on_purchase
        return models

    def models(self) -> Models:
        """The replay's models with these stabilisers."""
        return self.apply(Models(value=ValueModel(min_customers=30)))


WITHOUT = Stabilisers(0.0, 0.0, 0.0, 0.0, 0.0, value_down_on_purchase=False)


def run(pop: Population, purchases: pd.DataFrame, stab: Stabilisers) -> dict[str, Any]:
    models, max_step = stab.models(), stab.cluster_max_step
    started = time.perf_counter()
    r, start, end = pop.replay(models, purchases, max_step)
    customers = purchases["customer_id"].nunique() if pop.cdnow else pop.customers
    dims = stability(r.changes, customers, (end - start) / timedelta(hours=1))
    end_us = to_us(end)
    if "cluster" in dims:
        dims["cluster"]["not_nearest_at_end"] = not_nearest(r, end_us)
    expected = reference_segments(models, purchases, end) if "rfm" in dims else {}
    if "rfm" in dims:
        dims["rfm"]["batch_agreement"] = batch_agreement(r, expected)
    # every customer scored again as of the end on the final snapshots, with the
    # stabilisers and (a copy) without: what the stabilisers cost, apart from segments not
    # re-scored since the snapshots moved
    r.publish_rfm()
    exact = copy.deepcopy(r)  # the same fits and snapshots; exact RFM edges, no margins
    WITHOUT.apply(exact.models)
    exact.publish_rfm()
    for rr in (r, exact):
        rr.due = dict.fromkeys(rr.states, end_us)
        rr.sweep(end_us, passes=1)
    for dim in dims:
        dims[dim]["exact_at_end_rescored"] = exact_share(r, exact, dim)
    if "rfm" in dims:
        dims["rfm"]["batch_agreement_rescored"] = batch_agreement(r, expected)
    return {
        "stabilised": stab != WITHOUT,
        "cluster_margin": models.cluster_margin,
        "cluster_max_step": max_step,
        "value_margin": models.value_margin,
        "rfm_margin": models.rfm_margin,
        "rfm_margin_days": models.rfm_margin_days,
        "seconds": round(time.perf_counter() - started, 1),
        "dimensions": dims,
    }


def population_args(ap: argparse.ArgumentParser, customers: int, days: int) -> None:
    """The options that choose the replayed population (:func:`population_of` reads them)."""
    ap.add_argument("--customers", type=int, default=customers)
    ap.add_argument("--days", type=int, default=days)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=200, help="events per batch; RFM edges are published after each")
    ap.add_argument("--cdnow", type=Path, help="replay this CDNOW master or sample file instead of the simulator")


def population_of(a: argparse.Namespace, ap: argparse.ArgumentParser, **more: Any) -> Population:
    """The population :func:`population_args`' options name (a missing CDNOW file: a usage error)."""
    if a.cdnow is not None and not a.cdnow.is_file():
        ap.error(f"--cdnow: no such file: {a.cdnow}")
    return Population(a.customers, a.days, a.seed, a.batch, a.cdnow, **more)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    population_args(ap, customers=400, days=120)
    ap.add_argument(
        "--cluster-margin", type=float, default=Models().cluster_margin, help="the stabilised run's cluster margin"
    )
    ap.add_argument(
        "--cluster-max-step", type=float, default=MAX_STEP,
        help="the stabilised run's speed limit of the cluster centres (standard units a snapshot; 0: none)",
    )  # fmt: skip
    ap.add_argument("--value-margin", type=float, default=Stabilisers.value_margin, help="stabilised: tier margin")
    ap.add_argument("--rfm-margin", type=float, default=Stabilisers.rfm_margin, help="stabilised: RFM edge margin")
    ap.add_argument(
        "--rfm-margin-days", type=float, default=Stabilisers.rfm_margin_days,
        help="the stabilised run's RFM recency margin (days)",
    )  # fmt: skip
    ap.add_argument("--learn-sample", type=int, default=2000, help="with --cdnow: customers learned from per day")
    ap.add_argument(
        "--reference-hours", type=float, default=1.0, help="event-hours between two batch reference runs (0: none)"
    )
    ap.add_argument(
        "--clusters", choices=("4", "auto"), default="4",
        help="the replay's cluster count: told (4), or chosen from the data at every weekly snapshot",
    )  # fmt: skip
    ap.add_argument("--out", default="benchmarks/results/stability.jsonl")
    a = ap.parse_args()
    for name in ("cluster_margin", "value_margin", "rfm_margin"):
        if not 0 <= getattr(a, name) < 1:  # as the settings check them
            ap.error(f"--{name.replace('_', '-')}: at least 0 and less than 1")
    if a.rfm_margin_days < 0:
        ap.error("--rfm-margin-days: 0 or more")
    if a.reference_hours < 0:
        ap.error("--reference-hours: 0 or more")
    pop = population_of(a, ap, learn_sample=a.learn_sample, auto=a.clusters == "auto")
    purchases = pop.purchases()
    stab = Stabilisers(a.cluster_margin, a.cluster_max_step, a.value_margin, a.rfm_margin, a.rfm_margin_days)
    rows = [run(pop, purchases, WITHOUT), run(pop, purchases, stab)]
    if a.reference_hours:
        rows.append(reference_run(purchases, *pop.span(purchases), a.reference_hours))
    about = pop.about()
    if a.cdnow:
        about |= {"customers": int(purchases["customer_id"].nunique()), "purchases": len(purchases)}
        about["learn_sample"] = a.learn_sample
    commit = measured_commit()
    with Path(a.out).open("a") as f:
        for row in rows:
            row |= about | {"batch": a.batch, "clusters": a.clusters, "commit": commit}
            f.write(json.dumps(row) + "\n")
            print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
