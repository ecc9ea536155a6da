"""The I/O shell around the pure step: decode → load → step → emit → save, per batch.

The batch consumer (agents/ingest.py) commits a batch's offsets only after this has saved
its state, so offsets are committed only after the state is written. Redis or
Kafka outages hold the batch and retry; they never drop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import faust
from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from faust.exceptions import NotReady
from kafka.errors import KafkaError as SyncKafkaError

from segstream.agents import fatal
from segstream.agents.metrics import Metrics
from segstream.agents.modelsync import ModelSync
from segstream.agents.progress import Progress
from segstream.agents.step import KIND_OF_CODE, Positioned, StepResult, apply_events, positioned, rescore
from segstream.config import Settings
from segstream.models.decay import US_PER_DAY
from segstream.scoring.clock import active_clocks, scoring_clock
from segstream.state.customer import CustomerState
from segstream.state.keys import CLOCK_GLOBAL, SNAPSHOT_CLUSTER, SNAPSHOT_RFM, SNAPSHOT_VALUE, source_field
from segstream.state.store import Store, retry_forever
from segstream.streams import kinds
from segstream.streams.codec import EventCodec, Rejection, encode
from segstream.streams.dead_letters import dead_letter

log = logging.getLogger(__name__)

try:  # aiokafka is what Faust produces with
    from aiokafka.errors import KafkaError as AioKafkaError
except ImportError:  # pragma: no cover
    AioKafkaError = SyncKafkaError

# NotReady: Faust's producer not started yet, or already stopped (a batch in flight while
# the worker shuts down): retried, so the batch is never dead-lettered for it
KAFKA_RETRYABLE = (AioKafkaError, SyncKafkaError, asyncio.TimeoutError, NotReady)
SNAPSHOTS = (SNAPSHOT_RFM, SNAPSHOT_CLUSTER, SNAPSHOT_VALUE)  # model snapshots loaded with every batch
T = TypeVar("T")
Rejected = tuple[Any, Rejection]  # (Kafka record, why)


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
        self._idle_ms = round(settings.idle_partition_s * 1000)
        self._lateness_us = round(settings.max_lateness_days * US_PER_DAY)
        self.lag: dict[tuple[str, int], int] = {}  # (topic, partition) -> messages behind, this worker
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

    async def send_dead_letters(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        now = datetime.now(UTC)
        payloads = []
        for rec, rej in rejected:
            env = dead_letter(
                rej,
                topic=rec.topic,
                partition=rec.partition,
                offset=rec.offset,
                kafka_ts_ms=rec.timestamp if rec.timestamp and rec.timestamp > 0 else None,
                key=rec.key,
                value=rec.value,
                now=now,
            )
            payloads.append((rec.key, encode(env), [("reason", rej.reason.encode())]))
        log.info("%d event(s) to the dead-letter topic", len(payloads))
        await self._send_all(self.dlq, payloads)
        reasons = [rej.reason for _, rej in rejected]
        for r in reasons:
            self.metrics.dead_letters.labels(r).inc()
        await self._redis("dead-letter count", partial(self.store.count_dead_letters, reasons))

    # -- retries

    async def _redis(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        m = self.metrics

        def failed(exc: BaseException) -> None:
            m.redis_retries.labels(what).inc()
            m.redis_unavailable.set(1)
            self.progress.waiting_for = "Redis"

        def recovered() -> None:
            m.redis_unavailable.set(0)
            self.progress.waiting_for = ""

        started = time.perf_counter()
        try:
            return await retry_forever(
                what,
                fn,
                max_delay=self.settings.redis_retry_max_s,
                on_retry=failed,
                on_recover=recovered,
            )
        except fatal.REFUSED as exc:  # NOPERM, a wrong password: no retry fixes those
            fatal.stop(what, exc)
        finally:
            m.redis_seconds.labels(what).observe(time.perf_counter() - started)

    async def _send_all(self, topic: faust.TopicT, payloads: Sequence[tuple[bytes | None, bytes, Any]]) -> None:
        """Send and wait until the broker has every message; retry while Kafka is away.

        Messages go out as one record batch per partition (aiokafka ``send_batch`` on
        Faust's producer), partitioned by key like Kafka's default partitioner (murmur2),
        in order: ~3 µs a message where a ``send`` per message costs ~25 µs."""
        name = topic.get_topic_name()
        delay = 0.1
        while True:
            try:
                producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]  # Faust's aiokafka producer
                partitions = sorted(await producer.partitions_for(name))
                by_partition: dict[int, list[tuple[bytes | None, bytes, Any]]] = {}
                for msg in payloads:
                    p = DefaultPartitioner()(msg[0], partitions, partitions)
                    by_partition.setdefault(p, []).append(msg)
                futs = []
                for p, msgs in by_partition.items():
                    batch = producer.create_batch()
                    for k, v, h in msgs:
                        if batch.append(timestamp=None, key=k, value=v, headers=h or []) is None:
                            batch.close()
                            futs.append(await producer.send_batch(batch, name, partition=p))
                            batch = producer.create_batch()
                            batch.append(timestamp=None, key=k, value=v, headers=h or [])
                    batch.close()
                    futs.append(await producer.send_batch(batch, name, partition=p))
                await asyncio.gather(*futs)
                self.progress.waiting_for = ""
                return
            except fatal.REFUSED as exc:  # credentials revoked, topic ACL removed: not a retry
                fatal.stop(f"sending to {name}", exc)
            except KAFKA_RETRYABLE as exc:
                self.metrics.kafka_send_retries.labels(name).inc()
                self.progress.waiting_for = "Kafka"
                log.warning("Kafka send to %s failed (%s); retrying in %.1fs", name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

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
            await self.send_dead_letters(rejected)
        while pending:
            cids = list(dict.fromkeys(p.event.customer_id for p in pending))
            loaded, clocks, snaps = await self._redis("load", partial(self.store.load, cids, SNAPSHOTS))
            self._use(snaps)
            pending, late = too_late(pending, clocks, self._lateness_us)
            if late:
                for p, _ in late:
                    m.events.labels(KIND_OF_CODE[p.source[0]], "rejected").inc()
                await self.send_dead_letters([(by_position(batch)[(p.source, p.offset)], why) for p, why in late])
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
                await self.send_dead_letters(why)
            again = await self._emit_and_save(result, "input")
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
        for (topic, partition), offset in last.items():
            try:
                end = self.highwater(TopicPartition(topic, partition))
            except Exception:  # no highwater yet (just assigned): no gauge this time
                continue
            if end is not None:
                self.lag[(topic, partition)] = max(0, end - offset - 1)
                m.consumer_lag.labels(topic, str(partition)).set(self.lag[(topic, partition)])

    def _scoring_clock(self, clocks: dict[str, int]) -> int:
        return scoring_clock(clocks, int(time.time() * 1000), self._idle_ms)

    def _use(self, snaps: list[bytes | None]) -> None:
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

    async def _emit_and_save(self, result: StepResult, kind: str) -> set[str]:
        """Send the segment changes and churn-risk events (acknowledged), then save; return
        the conflicting ids."""
        if result.outputs:
            payloads = [(c.customer_id.encode(), encode(c), None) for c in result.outputs]
            await self._send_all(self.segment_changes, payloads)
        if result.churn_events:
            payloads = [(c.customer_id.encode(), encode(c), None) for c in result.churn_events]
            await self._send_all(self.churn_risk, payloads)
        conflicts = set(await self._redis("save", partial(self.store.save, result.items, result.clock, kind)))
        kept = [ev for ev in result.churn_events if ev.customer_id not in conflicts]
        for ev in kept:
            self.metrics.churn_events.labels(ev.level).inc()
        if kept:
            await self._redis("recent churn", partial(self.store.remember_churn_events, [encode(ev) for ev in kept]))
        return conflicts

    async def sweep(
        self, limit: int = 2000, until: int | None = None, seen: dict[str, CustomerState] | None = None
    ) -> int:
        """Re-score the customers whose due time the stream clock (or ``until``) has passed
        (leader only); ``seen`` collects their states."""
        clocks = await self._redis("clock", self.store.clock)
        now = self._scoring_clock(clocks) if until is None else until
        due = await self._redis("due", partial(self.store.due, now, limit))
        if not due:
            return 0
        loaded, _, snaps = await self._redis("load", partial(self.store.load, list(due), SNAPSHOTS))
        self._use(snaps)
        if seen is not None and until is not None:
            # an epoch's sweep scores a customer at its first due time in the epoch, and any
            # later one at the boundary: at most twice an epoch, however often it falls due
            due = {c: (now if c in seen else t) for c, t in due.items()}
        if seen is not None:
            seen.update((c, loaded[c].state) for c in sorted(loaded) if loaded[c].version)
        s = self.settings
        result = rescore(loaded, due, now, self.models, s.language, s.currency, clocks.get(CLOCK_GLOBAL, 0))
        conflicts = await self._emit_and_save(result, "sweep")
        for item in result.items:
            if item.customer_id not in conflicts:
                for dim, _, _ in item.changes:
                    self.metrics.segment_changes.labels(dim).inc()
        return len(due)

    async def fit_value(self, now: int | None = None) -> None:
        """Leader only: refit the purchase models as of the stream clock (or ``now``)."""
        now = now or (await self._redis("clock", self.store.clock)).get("global", 0)
        if now:
            await self.sync.fit_value(now)

    async def learn_clusters(self, customers: list[CustomerState] | None = None, now: int | None = None) -> None:
        """Leader only: learn clusters from a slice of the population (or ``customers``, in
        order, as of ``now``); publish model events."""
        now = now or (await self._redis("clock", self.store.clock)).get("global", 0)
        if customers is None:
            learn = partial(self.sync.learn_clusters, now, self.settings.cluster_sample)
        else:
            learn = partial(self.sync.learn_from, customers[: self.settings.cluster_sample], now)
        events = await self._redis("learn clusters", learn)
        if events:
            # one key: every model event in one partition, in order
            await self._send_all(self.cluster_events, [(b"clusters", encode(e), None) for e in events])

    async def dead_letter_batch(self, events: Sequence[Any], exc: BaseException) -> None:
        """Last resort after an unexpected error: the whole batch to the dead-letter topic.

        Faust acknowledges a batch when the agent moves on, so a batch that raised would
        otherwise be lost; in the dead-letter topic it keeps its bytes and can be replayed.
        """
        why = Rejection("processing_error", f"{type(exc).__name__}: {exc}")
        await self.send_dead_letters([(e, why) for e in events])
