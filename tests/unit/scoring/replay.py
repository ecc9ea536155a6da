"""A pure replay of a simulated population (or any time-ordered events, such as CDNOW's
purchases) through the worker's core (no Kafka, no Redis):
batches of events through :func:`apply_events`, and once per event day what the leader
does (RFM quintiles, clusters, value fit) and the due-time sweep (:func:`rescore`).

The same steps the worker takes, in the same order, on plain dicts instead of Redis; the
property tests of segments a person would sign off read every customer after every sweep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from segstream.agents.grading import Grading
from segstream.agents.step import apply_events, positioned, rescore
from segstream.feeders.simulator import Simulator
from segstream.models.clusters import FEATURES, ClusterLearner
from segstream.models.decay import US_PER_DAY
from segstream.models.quantiles import bucket
from segstream.models.rfm import RFM_METRICS, RFMSnapshot, metric_values, settle
from segstream.models.value import fit_value
from segstream.scoring.behaviour import behaviours
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams import kinds
from segstream.streams.codec import to_us
from segstream.streams.schemas import ChurnRisk, Event, SegmentChange

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CODE = {k.schema: k.code for k in kinds.KINDS}


@dataclass
class Replay:
    models: Models
    states: dict[str, CustomerState] = field(default_factory=dict)
    versions: Counter[str] = field(default_factory=Counter)
    due: dict[str, int] = field(default_factory=dict)
    clock: dict[str, int] = field(default_factory=dict)
    changes: list[SegmentChange] = field(default_factory=list)
    churn: list[ChurnRisk] = field(default_factory=list)
    learner: ClusterLearner = field(default_factory=lambda: ClusterLearner(n_clusters=4, seed=1))
    fits: int = 0
    grading: Grading | None = None  # the worker's grader, fed as the worker feeds it
    learn_sample: int | None = None  # customers learned from per day (None: all), a cursor walking round
    cursor: int = 0

    def apply(self, events: list[Event], offsets: Counter[str]) -> None:
        batch = []
        for e in events:
            code = CODE[type(e)]
            batch.append(positioned(e, code + "0", offsets[code]))
            offsets[code] += 1
        ids = {e.customer_id for e in events}
        loaded = {c: Loaded(self.versions[c], self.states.get(c) or CustomerState()) for c in ids}
        out = apply_events(loaded, batch, 0, self.models, clocks=self.clock)
        self.clock = out.clock
        self._keep(out.items, out.outputs)
        self.churn.extend(out.churn_events)
        if self.grading:
            self.grading.saved(out, batch, ())

    def _keep(self, items: list, outputs: list[SegmentChange]) -> None:  # type: ignore[type-arg]
        for item in items:
            self.states[item.customer_id] = item.state
            self.versions[item.customer_id] += 1
            if item.due_us is not None:
                self.due[item.customer_id] = item.due_us
        self.changes.extend(outputs)

    def publish_rfm(self) -> None:
        """The RFM quintile edges of the population as it is, settled on the published ones."""
        hists: dict[str, Counter[int]] = {m: Counter() for m, _ in RFM_METRICS}
        buyers = [st.purchases for st in self.states.values() if st.purchases]
        for p in buyers:
            values = metric_values(p)
            for metric, exact in RFM_METRICS:
                hists[metric][bucket(values[metric], exact)] += 1
        if buyers:
            m, previous = self.models, self.models.rfm_snapshot
            counts = {k: dict(v) for k, v in hists.items()}
            new = RFMSnapshot.from_histograms(previous.version + 1 if previous else 1, counts)
            m.rfm_snapshot = settle(previous, new, m.rfm_margin, m.rfm_margin_days)

    def lead(self, now: int, value_every: int) -> None:
        """What the leader publishes: RFM quintiles (daily), a cluster snapshot and a value
        fit (every ``value_every`` days)."""
        self.fits += 1
        self.publish_rfm()
        buyers = [st.purchases for st in self.states.values() if st.purchases]
        active = [st for st in self.states.values() if st.purchases or st.usage]
        if active and self.learn_sample is not None and len(active) > self.learn_sample:
            # the leader's SCAN cursor: the next slice of the population, round and round
            start = self.cursor % len(active)
            active = (active[start:] + active[:start])[: self.learn_sample]
            self.cursor = start + self.learn_sample
        if active:
            for row in behaviours(active, now, self.models).tolist():
                self.learner.learn_one(dict(zip(FEATURES, row, strict=True)))
            if self.learner.learned >= self.learner.n_clusters * 20 and self.fits % value_every == 0:
                self.models.cluster_snapshot, _ = self.learner.snapshot(self.models.cluster_snapshot)
        if buyers and self.fits % value_every == 0:
            hist = np.array([p.repeat_history(now, self.models.value.unit_days) for p in buyers], dtype=np.float64)
            previous = self.models.value_snapshot
            self.models.value_snapshot = fit_value(
                self.models.value, hist[:, 0], hist[:, 1], hist[:, 2], hist[:, 3], as_of_us=now,
                version=(previous.version if previous else 0) + 1,
                revenue_minor=sum(p.spend_minor for p in buyers), previous=previous,
            )  # fmt: skip

    def sweep(self, now: int, passes: int = 10) -> None:
        """Re-score every customer due by ``now``, as of its due time, pass after pass (a
        customer scored at an old due time can be due again before ``now``), as the
        worker's sweep does."""
        for _ in range(passes):
            due = {c: t for c, t in self.due.items() if t <= now}
            if not due:
                return
            loaded = {c: Loaded(self.versions[c], self.states[c]) for c in due}
            out = rescore(loaded, due, now, self.models)
            self._keep(out.items, out.outputs)
            self.churn.extend(out.churn_events)
            if self.grading:  # as the leader's sweep: scores as of the sweep's clock, no outcomes
                self.grading.saved(out, [], (), now)


def replay(
    customers: int,
    days: int,
    seed: int,
    models: Models,
    after_sweep: Callable[[Replay, int], None] | None = None,
    comeback_share: float = 0.3,
    signup_days: float = 30.0,
    batch: int = 500,
    value_every: int = 7,
    rfm_every_batch: bool = False,
    grading: Grading | None = None,
    max_step: float | None = None,
    learner: ClusterLearner | None = None,
) -> Replay:
    """Replay ``days`` event days of a simulated population; ``after_sweep(replay, now)``
    once every event day, after the leader's publications and the sweep; ``learner``: as
    :func:`replay_events`.
    ``rfm_every_batch``: publish the RFM edges after every batch too (the live leader
    publishes every ``snapshot_interval_s`` while the batches flow)."""
    sim = Simulator(customers, T0, seed, signup_days=signup_days, comeback_share=comeback_share)
    return replay_events(
        sim.events(), T0, days, models, after_sweep, batch=batch, value_every=value_every,
        rfm_every_batch=rfm_every_batch, grading=grading, max_step=max_step, learner=learner,
    )  # fmt: skip


def replay_events(
    source: Iterable[Event],
    t0: datetime,
    days: int,
    models: Models,
    after_sweep: Callable[[Replay, int], None] | None = None,
    batch: int = 500,
    value_every: int = 7,
    rfm_every_batch: bool = False,
    grading: Grading | None = None,
    learn_sample: int | None = None,
    max_step: float | None = None,
    learner: ClusterLearner | None = None,
) -> Replay:
    """Replay ``source`` (in event-time order, from ``t0``) up to ``days`` event days after
    ``t0``, as :func:`replay` does; ``learn_sample``: the clusters learn from at most that
    many customers a day (the leader's slice), not from all; ``max_step``: the cluster
    learner's speed limit (None: its default); ``learner``: the cluster learner (None: the
    replay's own, four clusters)."""
    r = Replay(models, grading=grading, learn_sample=learn_sample)
    if learner is not None:
        r.learner = learner
    if max_step is not None:
        r.learner.max_step = max_step
    offsets: Counter[str] = Counter()
    end = t0 + timedelta(days=days)
    next_day = to_us(t0) + US_PER_DAY
    pending: list[Event] = []

    def events() -> Iterator[Event]:
        for e in source:
            if e.ts >= end:
                return
            yield e

    for e in events():
        while to_us(e.ts) >= next_day:  # a day boundary: the batch so far, then the leader and the sweep
            if pending:
                r.apply(pending, offsets)
                pending = []
            r.lead(next_day, value_every)
            r.sweep(next_day)
            if after_sweep:
                after_sweep(r, next_day)
            next_day += US_PER_DAY
        pending.append(e)
        if len(pending) >= batch:
            r.apply(pending, offsets)
            pending = []
            if rfm_every_batch:
                r.publish_rfm()
    if pending:
        r.apply(pending, offsets)
    return r
