"""The leader's side of the event-time barrier (``SEGSTREAM_EVENT_EPOCH_S`` > 0).

During a catch-up the workers apply events only up to the next epoch boundary and hold
each partition at its first event past it (agents/ingest.py). Once every input partition
waits there or has nothing more, the leader re-scores the customers due before the
boundary (those whose events arrived in the epoch are due at their latest event),
publishes the RFM snapshot as of it (learns clusters every
``SEGSTREAM_CLUSTER_EVENT_INTERVAL_S`` and refits the value models every
``SEGSTREAM_VALUE_FIT_EVENT_INTERVAL_S`` of event time, and both at the end of the
backlog), and moves the boundary on to the epoch of the earliest waiting event. So every
event is applied, and every customer scored, with the same snapshots whatever the
machine's speed (docs/PROCESSING.md).
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import TypeVar

from segstream.agents.pipeline import Pipeline
from segstream.state.barrier import LIVE, Barrier, Epoch, next_boundary, partition_names, ready
from segstream.state.customer import CustomerState
from segstream.state.keys import CLOCK_GLOBAL

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_SWEEP_PASSES = 10_000  # a customer re-scored as of ever later due times ends; this bounds a bug
#: Seconds every partition must stay drained with the stream clock unchanged before the
#: leader takes it for the backlog's end and closes the epoch short of its boundary. A
#: worker faster than its producer drains the partitions between two sends: closing then
#: made the epoch end at whatever clock the events had reached, which depended on the two
#: speeds (an integration test's second epoch ended at two different event times in two
#: runs, and the clusters learned from it differed to the end; docs/PROCESSING.md).
QUIET_S = 5.0


def stable_order(customers: dict[str, T]) -> list[T]:
    """Customers in an order fixed by their ids' hash (a sample of them taken from the front
    is the same on every run, and not biased to low ids).

    >>> stable_order({c: c.upper() for c in "abcd"})
    ['C', 'B', 'D', 'A']
    """
    return [customers[c] for c in sorted(customers, key=lambda c: (zlib.crc32(c.encode()), c))]


class Catchup:
    """The leader's per-epoch jobs; remembers the customers re-scored since the last
    cluster pass (the next pass learns from a stable sample of them)."""

    def __init__(self, pipeline: Pipeline, barrier: Barrier) -> None:
        self.pipeline = pipeline
        self.barrier = barrier
        self._unlearned: dict[str, CustomerState] = {}
        self._quiet: tuple[int, float] | None = None  # the stream clock while drained, and since when

    async def advance(self) -> bool:
        """One look at the barrier (leader only); True when the boundary moved."""
        pipeline, barrier = self.pipeline, self.barrier
        s = pipeline.settings
        epoch_us = round(s.event_epoch_s * 1e6)
        ep = await barrier.epoch()
        if ep.next == LIVE:
            return False
        held = ready(await barrier.positions(), partition_names(s.topic, s.partitions), ep.next)
        if held is None:  # some partition is still applying events before the boundary
            return False
        if held:
            self._quiet = None
        elif ep.done != ep.next and not await self._quiet_for(QUIET_S):
            return False  # drained, but events may still be on their way: the end is not told
        if ep.next and ep.done != ep.next:
            await self._close(ep, held)
        if not held:  # every partition drained: wait for more
            return False
        nxt = next_boundary(min(held), epoch_us)
        if nxt > time.time() * 1e6 - epoch_us:  # the stream reached the present: no barrier any more
            nxt = LIVE
        await barrier.set_next(nxt)
        log.info("event-time barrier moved to %s", "live" if nxt == LIVE else nxt)
        return True

    async def _quiet_for(self, seconds: float) -> bool:
        """Whether the stream clock has not moved for ``seconds`` (wall clock) while drained."""
        clock = (await self.pipeline.store.clock()).get(CLOCK_GLOBAL, 0)
        now = time.monotonic()
        if self._quiet is None or self._quiet[0] != clock:
            self._quiet = (clock, now)
        return now - self._quiet[1] >= seconds

    async def _close(self, ep: Epoch, held: list[int]) -> None:
        """The epoch's jobs: re-score the customers due before the boundary, publish the
        RFM snapshot; learn clusters and refit the value models when due in event time
        (and at the end of the backlog: nothing held)."""
        pipeline, s = self.pipeline, self.pipeline.settings
        clock = (await pipeline.store.clock()).get(CLOCK_GLOBAL, 0)
        until = min(ep.next - 1, clock)
        seen: dict[str, CustomerState] = {}
        passes = 0
        t0 = time.perf_counter()
        while await pipeline.leader.sweep(2000, until=until, seen=seen):
            passes += 1
            if passes >= MAX_SWEEP_PASSES:
                log.error("sweep to %d did not finish in %d passes", until, passes)
                break
        t1 = time.perf_counter()
        await pipeline.sync.publish()
        t2 = time.perf_counter()
        self._unlearned.update(seen)
        learn = not held or ep.next - ep.learned >= round(s.cluster_event_interval_s * 1e6)
        if learn:
            await pipeline.leader.learn_clusters(stable_order(self._unlearned), until)
            self._unlearned.clear()
        t3 = time.perf_counter()
        fit = not held or ep.next - ep.fitted >= round(s.value_fit_event_interval_s * 1e6)
        if fit:
            await pipeline.leader.fit_value(until)
        t4 = time.perf_counter()
        await self.barrier.set_done(ep.next, learned=learn, fitted=fit)
        log.info(
            "epoch to %d: %d customers re-scored in %.3fs, RFM %.3fs, clusters %.3fs, value fit %.3fs",
            until, len(seen), t1 - t0, t2 - t1, t3 - t2, t4 - t3,
        )  # fmt: skip
