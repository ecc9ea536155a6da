"""The batch processor: decode → load → step → emit → save, one batch at a time.

The batch consumer (agents/ingest.py) commits a batch's offsets only after this has saved
its state, so offsets are committed only after the state is written. Redis or
Kafka outages hold the batch and retry; they never drop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from aiokafka import TopicPartition

from segstream.agents.grading import Grading
from segstream.agents.leader import Leader
from segstream.agents.metrics import Metrics
from segstream.agents.modelsync import ModelSync
from segstream.agents.progress import Progress
from segstream.agents.retry import RedisRetry
from segstream.agents.sink import Rejected, Sink
from segstream.agents.step import KIND_OF_CODE, Positioned, StepResult, apply_events, positioned
from segstream.config import Settings
from segstream.models.decay import US_PER_DAY
from segstream.scoring.clock import active_clocks, scoring_clock
from segstream.scoring.stability import FlipBacks
from segstream.state.keys import CLOCK_GLOBAL, SNAPSHOTS, source_field
from segstream.state.store import Store
from segstream.streams import cloudevents, kinds
from segstream.streams.codec import EventCodec, Rejection, encode, to_us

log = logging.getLogger(__name__)


def by_position(batch: Mapping[str, Sequence[Any]]) -> dict[tuple[str, int], Any]:
    """The batch's Kafka records by (source field, offset)."""
    return {(source_field(kind, e.partition), e.offset): e for kind, records in batch.items() for e in records}


def too_late(
    events: list[Positioned], clocks: Mapping[str, int], lateness_us: int
) -> tuple[list[Positioned], list[tuple[Positioned, Rejection]]]:
    """Split off the events stamped more than ``lateness_us`` before their own source
    partition's clock: history from another era sent into a running stream (1997's orders
    into a 2026 deployment) would make every customer it touches contradict itself.

    >>> from types import SimpleNamespace as E
    >>> ok, late = too_late([E(source="p0", ts_us=5), E(source="p0", ts_us=95)], {"p0": 100}, 10)
    >>> [e.ts_us for e in ok], [(e.ts_us, r.reason) for e, r in late]
    ([95], [(5, 'too_late')])
    """
    ok: list[Positioned] = []
    late: list[tuple[Positioned, Rejection]] = []
    for p in events:
        mark = clocks.get(p.source, 0)
        if mark and p.ts_us < mark - lateness_us:
            days = (mark - p.ts_us) / US_PER_DAY
            limit = lateness_us / US_PER_DAY
            late.append((p, Rejection("too_late", f"{days:.1f} days before its partition's clock (limit {limit:g})")))
        else:
            ok.append(p)
    return ok, late


class Pipeline:
    """Everything an agent needs: codecs, the store, output topics, the models."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.store = Store.from_settings(settings)
        # the HTTP views run in the web server's own thread and event loop (app.py): they get
        # their own Redis client, whose connections belong to that loop
        self.web_store = Store.from_settings(settings)
        self.sync = ModelSync(settings, self.store)
        self.models = self.sync.models
        self.metrics = Metrics()
        self.flips = FlipBacks()  # this worker's recent segment moves, to count flip-backs
        self.grading = Grading(settings.value_horizon_days)  # how its scores ranked what came next
        self._idle_ms = round(settings.idle_partition_s * 1000)
        self._lateness_us = round(settings.max_lateness_days * US_PER_DAY)
        self.lag: dict[tuple[str, int], int] = {}  # (topic, partition) -> messages behind, this worker
        self.done: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset processed
        self.progress = Progress(settings.stall_after_s)  # told by the batch consumer; read by /ready
        self.codecs = {
            kind: EventCodec(
                kind,
                max_bytes=settings.max_event_bytes,
                min_time=settings.min_event_time,
                max_future=settings.max_future_skew,
                currency=settings.currency,
            )
            for kind in kinds.NAMES
        }

        def topic(name: str) -> faust.TopicT:
            return app.topic(
                settings.topic(name),
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.partitions,
                internal=False,
            )

        # set by the batch consumer (agents/ingest.py) once it runs: its partitions' end offsets
        # (lag) and its current assignment (readiness)
        self.highwater: Callable[[TopicPartition], int | None] = lambda tp: None
        self.assignment: Callable[[], set[TopicPartition]] = set
        self.segment_changes = topic("segment_changes")
        self.churn_risk = topic("churn_risk")
        self.dlq = topic("dlq")
        self.cluster_events = topic("cluster_events")
        # the named parts: Redis's one retry policy, the output sink, the leader's jobs
        self.redis = RedisRetry(settings.redis_retry_max_s, self.metrics, self.progress)
        self.sink = Sink(app, self.dlq, self.store, self.redis, self.metrics, self.progress)
        self.leader = Leader(self)

    # -- decode

    def decode(self, kind: str, events: Sequence[Any]) -> tuple[list[Positioned], list[Rejected]]:
        """Valid events with their positions, and the rejected ones with their reasons."""
        codec = self.codecs[kind]
        now = datetime.now(UTC)
        valid: list[Positioned] = []
        rejected: list[Rejected] = []
        for rec in events:
            result = codec.decode(rec.value, now)
            if isinstance(result, Rejection):
                rejected.append((rec, result))
            else:
                valid.append(positioned(result, source_field(kind, rec.partition), rec.offset))  # type: ignore[arg-type]
        return valid, rejected

    # -- the batch

    async def process(self, batch: Mapping[str, Sequence[Any]], defer: bool = False) -> None:
        """Decode, load, step, emit, save one batch: the records of each input topic (kind).
        ``defer``: apply and save only; the barrier's sweep scores (a catch-up)."""
        started = time.perf_counter()
        if self.settings.slow_batch_s:
            await asyncio.sleep(self.settings.slow_batch_s)
        m = self.metrics
        pending: list[Positioned] = []
        for kind, records in batch.items():
            valid, rejected = self.decode(kind, records)
            pending += valid
            m.events.labels(kind, "rejected").inc(len(rejected))
            await self.sink.dead_letters(rejected)
        while pending:
            cids = list(dict.fromkeys(p.event.customer_id for p in pending))
            loaded, clocks, snaps = await self.redis("load", partial(self.store.load, cids, SNAPSHOTS))
            self.use_snapshots(snaps)
            pending, late = too_late(pending, clocks, self._lateness_us)
            if late:
                for p, _ in late:
                    m.events.labels(KIND_OF_CODE[p.source[0]], "rejected").inc()
                await self.sink.dead_letters([(by_position(batch)[(p.source, p.offset)], why) for p, why in late])
                if not pending:
                    break
            wall_ms = int(time.time() * 1000)
            active = active_clocks(clocks, wall_ms, self._idle_ms)
            s = self.settings
            result = apply_events(
                loaded, pending, clocks.get(CLOCK_GLOBAL, 0), self.models, s.language, s.currency, active,
                clocks=clocks, jump_us=round(s.clock_max_jump_s * 1e6), quorum=s.clock_quorum, score=not defer,
            )  # fmt: skip
            # this batch's partitions are being consumed: their wall-time marks move with the save
            result.clock.update({f"w{src}": wall_ms for src in {p.source for p in pending} if src in result.clock})
            if result.failed:
                log.error("model step failed on %d event(s): %s", len(result.failed), result.failed[0][1])
                where = by_position(batch)
                why = [(where[(p.source, p.offset)], Rejection("processing_error", w)) for p, w in result.failed]
                await self.sink.dead_letters(why)
            again = await self.emit_and_save(result, "input", pending)
            m.conflicts.inc(len(again))
            for item in result.items:
                if item.customer_id not in again:
                    for kind, n in item.by_kind.items():
                        m.events.labels(kind, "applied").inc(n)
                    for dim, _, _ in item.changes:
                        m.segment_changes.labels(dim).inc()
            for kind, n in result.skipped.items():
                m.events.labels(kind, "replayed").inc(n)
            for kind, n in result.duplicates.items():
                m.events.labels(kind, "duplicate").inc(n)
            failed = {(p.source, p.offset) for p, _ in result.failed}
            pending = [p for p in pending if p.event.customer_id in again and (p.source, p.offset) not in failed]
        m.batch_seconds.labels("inputs").observe(time.perf_counter() - started)
        self._observe_latency_and_lag([r for records in batch.values() for r in records])

    def _observe_latency_and_lag(self, events: Sequence[Any]) -> None:
        """Append-to-emitted latency of every event of the batch; lag of its partitions."""
        m = self.metrics
        done_ms = time.time() * 1000
        last: dict[tuple[str, int], int] = {}
        observe = m.processing_latency.observe
        for rec in events:
            if rec.timestamp and rec.timestamp > 0:
                observe(max(0.0, done_ms - rec.timestamp) / 1000)
            key = (rec.topic, rec.partition)
            last[key] = max(rec.offset, last.get(key, -1))
        for key, offset in last.items():  # held events come later than newer ones: never backwards
            self.done[key] = max(offset, self.done.get(key, -1))
        self._lag_of({key: self.done[key] for key in last})

    def refresh_lag(self) -> None:
        """The lag of every partition this worker processed, against the end offsets its
        consumer saw last (they move with every fetch, also when no batch comes): after the
        last batch of a backlog, the lag it left behind would otherwise stay as it was."""
        self._lag_of(dict(self.done))

    def _lag_of(self, last: Mapping[tuple[str, int], int]) -> None:
        m = self.metrics
        for (topic, partition), offset in last.items():
            try:
                end = self.highwater(TopicPartition(topic, partition))
            except Exception:  # no highwater yet (just assigned): no gauge this time
                continue
            if end is not None:
                self.lag[(topic, partition)] = max(0, end - offset - 1)
                m.consumer_lag.labels(topic, str(partition)).set(self.lag[(topic, partition)])

    def forget(self, topic: str, partition: int) -> None:
        """A partition this worker no longer reads: its lag is not known here any more."""
        self.lag.pop((topic, partition), None)
        self.done.pop((topic, partition), None)

    def scoring_clock(self, clocks: dict[str, int]) -> int:
        return scoring_clock(clocks, int(time.time() * 1000), self._idle_ms)

    def use_snapshots(self, snaps: list[bytes | None]) -> None:
        """Score with the model snapshots just loaded (in :data:`SNAPSHOTS` order)."""
        rfm, clusters, value = snaps
        self.sync.use_snapshot(rfm)
        self.sync.use_cluster_snapshot(clusters)
        self.sync.use_value_snapshot(value)
        models = self.models
        for name, snap in (
            ("rfm", models.rfm_snapshot),
            ("cluster", models.cluster_snapshot),
            ("value", models.value_snapshot),
        ):
            if snap is not None:
                self.metrics.model_version.labels(name).set(snap.version)

    async def emit_and_save(
        self, result: StepResult, kind: str, events: Sequence[Positioned] = (), now: int = 0
    ) -> set[str]:
        """Send the segment changes and churn-risk events (acknowledged), then save; return
        the conflicting ids. ``events``: the input events the result applied (graded as
        outcomes of earlier scores); ``now``: the event time a sweep scored at."""
        source = self.settings.cloudevents_source if self.settings.cloudevents else None
        if result.outputs:
            payloads = [
                (c.customer_id.encode(), encode(c), source and cloudevents.segment_change(c, source))
                for c in result.outputs
            ]
            await self.sink.send(self.segment_changes, payloads)
        if result.churn_events:
            payloads = [
                (c.customer_id.encode(), encode(c), source and cloudevents.churn_risk(c, source))
                for c in result.churn_events
            ]
            await self.sink.send(self.churn_risk, payloads)
        conflicts = set(await self.redis("save", partial(self.store.save, result.items, result.clock, kind)))
        flips, flip_backs = self.flips, self.metrics.flip_backs
        for c in result.outputs:
            if c.customer_id not in conflicts and flips.observe(
                c.customer_id, c.dimension, c.from_segment, c.to_segment or None, to_us(c.ts)
            ):
                flip_backs.labels(c.dimension).inc()
        self.grading.saved(result, events, conflicts, now)
        kept = [ev for ev in result.churn_events if ev.customer_id not in conflicts]
        for ev in kept:
            self.metrics.churn_events.labels(ev.level).inc()
        if kept:
            await self.redis("recent churn", partial(self.store.remember_churn_events, [encode(ev) for ev in kept]))
        return conflicts
