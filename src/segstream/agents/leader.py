"""The leader's jobs (one worker at a time): the due-time sweep, the value refits and the
cluster learning, each publishing what it produces through the batch processor's emit/save."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from segstream.agents.step import rescore
from segstream.state.customer import CustomerState
from segstream.state.keys import CLOCK_GLOBAL, SNAPSHOTS
from segstream.streams import cloudevents
from segstream.streams.codec import encode

if TYPE_CHECKING:
    from segstream.agents.pipeline import Pipeline


class Leader:
    """Sweep, fit and learn for the worker that leads (see agents/maintenance.py)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    async def sweep(
        self, limit: int = 2000, until: int | None = None, seen: dict[str, CustomerState] | None = None
    ) -> int:
        """Re-score the customers whose due time the stream clock (or ``until``) has passed
        (leader only); ``seen`` collects their states."""
        clocks = await self.p.redis("clock", self.p.store.clock)
        now = self.p.scoring_clock(clocks) if until is None else until
        due = await self.p.redis("due", partial(self.p.store.due, now, limit))
        if not due:
            return 0
        loaded, _, snaps = await self.p.redis("load", partial(self.p.store.load, list(due), SNAPSHOTS))
        self.p.use_snapshots(snaps)
        if seen is not None and until is not None:
            # an epoch's sweep scores a customer at its first due time in the epoch, and any
            # later one at the boundary: at most twice an epoch, however often it falls due
            due = {c: (now if c in seen else t) for c, t in due.items()}
        if seen is not None:
            seen.update((c, loaded[c].state) for c in sorted(loaded) if loaded[c].version)
        s = self.p.settings
        result = rescore(loaded, due, now, self.p.models, s.language, s.currency, clocks.get(CLOCK_GLOBAL, 0))
        conflicts = await self.p.emit_and_save(result, "sweep", now=now)
        for item in result.items:
            if item.customer_id not in conflicts:
                for dim, _, _ in item.changes:
                    self.p.metrics.segment_changes.labels(dim).inc()
        return len(due)

    async def fit_value(self, now: int | None = None) -> None:
        """Leader only: refit the purchase models as of the stream clock (or ``now``)."""
        now = now or (await self.p.redis("clock", self.p.store.clock)).get("global", 0)
        if now:
            await self.p.sync.fit_value(now)

    async def learn_clusters(self, customers: list[CustomerState] | None = None, now: int | None = None) -> None:
        """Leader only: learn clusters from a slice of the population (or ``customers``, in
        order, as of ``now``: an event-time epoch's, which also chooses the count with
        ``clusters=auto``: epochs come a week of event time apart, not every 2 s); publish
        model events."""
        now = now or (await self.p.redis("clock", self.p.store.clock)).get("global", 0)
        if customers is None:
            learn = partial(self.p.sync.learn_clusters, now, self.p.settings.cluster_sample)
        else:
            learn = partial(self.p.sync.learn_from, customers[: self.p.settings.cluster_sample], now, choose=True)
        events = await self.p.redis("learn clusters", learn)
        if events:
            # one key: every model event in one partition, in order
            s, at = self.p.settings, datetime.now(UTC)
            ce = (lambda e: cloudevents.cluster_event(e, s.cloudevents_source, at)) if s.cloudevents else None
            payloads = [(b"clusters", encode(e), ce and ce(e)) for e in events]
            await self.p.sink.send(self.p.cluster_events, payloads)
