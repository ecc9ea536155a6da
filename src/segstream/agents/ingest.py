"""The input side: one batch consumer of the four input topics, a thin loop over batches.

Faust's per-event stream (``stream.take_events``) tops out near 11,000 events/s on our
2-core machine with an agent that does nothing (docs/BENCHMARKS.md), a fifth of the aim.
So the inputs are read in batches with aiokafka's ``getmany`` (Faust's own Kafka client),
in the consumer group named ``app_id``; Faust keeps what it does well here: the app,
leader election, timers, the producer and the web server.

Each batch is processed (decode → load → step → emit → save) before its offsets are
committed, so offsets are committed only after the state is written. A rebalance waits
for the batch in flight (the revocation callback takes the same lock), and a replay after
a crash or a rebalance is skipped by the offsets each customer's state records.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import defaultdict
from datetime import datetime
from functools import cached_property, partial
from typing import Any

import mode
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from segstream.agents import fatal
from segstream.agents.holding import Holding
from segstream.agents.pipeline import Pipeline
from segstream.state.barrier import LIVE, Position, partition_name
from segstream.streams import kinds
from segstream.streams.codec import to_us
from segstream.streams.security import client_kwargs

log = logging.getLogger(__name__)
GC_THRESHOLDS = (100_000, 50, 100)  # the cyclic collector's, from start-up on (default 700, 10, 10)

KINDS = kinds.NAMES
FETCH_BYTES_PER_PARTITION = 1 << 20  # aiokafka's default
HOLD_AHEAD_US = 366 * 86_400_000_000  # an event further past the barrier's boundary is an outlier
REVOKE_WAIT_S = 60.0  # longest a rebalance waits for the batch in flight
STOP_WAIT_S = 10.0  # longest a shutdown waits for it
BARRIER_FETCH_WAIT_MS = 20  # see the consumer
HOLD_PER_PARTITION = 20_000  # events a partition may hold past the boundary (per-event memory not measured)
BARRIER_POLL_S = 0.02  # how often a worker whose partitions all wait looks for the next boundary


class Ingest(mode.Service):
    """Consumes the input topics in batches and hands each topic's share to the pipeline."""

    def __init__(self, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        s = pipeline.settings
        self.kind_of = {s.topic(k): k for k in KINDS}
        self._lock = asyncio.Lock()  # held while a batch is in flight
        self._stopping = False
        self._barrier = pipeline.store.barrier() if s.event_epoch_s else None
        self._ahead_us = HOLD_AHEAD_US
        self._epoch: int | None = None  # the boundary last read (barrier on)
        self._closed = False  # ... and the leader ran its epoch's jobs: nothing more is held below it
        self._paused: set[TopicPartition] = set()  # holding all they may
        self._held: dict[TopicPartition, Holding] = {}
        self._hold_cap = HOLD_PER_PARTITION
        self._released: dict[TopicPartition, list[Any]] = {}  # let go by a new boundary, not applied yet
        self._read_to: dict[TopicPartition, int] = {}  # one past the last record applied or held
        self._reported: dict[str, Position] = {}

    @cached_property
    def consumer(self) -> AIOKafkaConsumer:  # created on the running loop (aiokafka needs it)
        s = self.pipeline.settings
        return AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap.split(","),
            group_id=s.app_id,
            client_id=f"{s.app_id}-ingest",
            # static membership: a restarted worker takes its partitions back at once, where a
            # new member waits for the dead one's session to expire (benchmarks/recovery.py)
            group_instance_id=s.group_instance_id(),
            session_timeout_ms=round(s.session_timeout_s * 1000),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
            **client_kwargs(s),
            # a partition resumed at a new epoch joins the next fetch request only after the
            # one in flight returns, which the broker holds up to this long when nothing is new
            fetch_max_wait_ms=BARRIER_FETCH_WAIT_MS if s.event_epoch_s else 500,
        )

    async def on_start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(topics=list(self.kind_of), listener=_Rebalance(self))
        self.pipeline.highwater = self.consumer.highwater
        self.pipeline.assignment = self.consumer.assignment
        # what start-up built (modules, models, clients) lives as long as the worker: out of
        # the cyclic collector's generations, so full collections stop walking it per batch
        gc.freeze()
        # a batch keeps ~10^5 young containers alive (its states' dicts and lists, outputs)
        # until it ends, and refcounting frees them all; at the default 700 the collector
        # ran ~16,000 times over a 300,000-event backlog, found no garbage, and took ~11% of
        # the worker's time (docs/BENCHMARKS.md, "Before and after profiles")
        gc.set_threshold(*GC_THRESHOLDS)

    async def on_stop(self) -> None:
        self._stopping = True
        try:  # let the batch in flight finish and commit ...
            async with asyncio.timeout(STOP_WAIT_S):
                await self._lock.acquire()
        except TimeoutError:  # ... unless it is held up (Redis away): uncommitted, it is read again
            log.warning("stopping with a batch in flight (not committed: it will be read again)")
        await self.consumer.stop()

    @mode.Service.task
    async def _run(self) -> None:
        s = self.pipeline.settings
        timeout_ms = round(s.batch_within * 1000)
        try:
            await self._consume(s, timeout_ms)
        except Exception as exc:
            if fatal.refused(exc):  # the consumer's credentials or ACLs went away
                fatal.stop("consuming the inputs", exc)
            raise

    async def _consume(self, s: Any, timeout_ms: int) -> None:
        while not self._stopping:
            epoch = await self._current_epoch()
            released, self._released = self._released, {}
            if released:  # events the new boundary let go, before anything newer
                batch = released
            elif epoch is not None and self._paused and self._paused >= self.consumer.assignment():
                self.pipeline.progress.waiting_for = "the leader's next event-time epoch"
                await asyncio.sleep(BARRIER_POLL_S)  # every partition waits for the leader: look again soon
                continue
            else:  # behind the barrier, wait briefly: the leader may move the boundary meanwhile
                batch = await self._fetch(s.batch_size, BARRIER_FETCH_WAIT_MS if epoch is not None else timeout_ms)
            if not batch:
                self.pipeline.progress.worked()  # nothing to do is not a stall
                if epoch is None:
                    continue
            async with self._lock:
                if self._stopping:
                    return
                # a rebalance may have taken partitions away since the fetch: leave their
                # records to the new owner, which starts from the last committed offset
                owned = self.consumer.assignment()
                batch = {tp: recs for tp, recs in batch.items() if tp in owned}
                if epoch is not None and not released:
                    batch = self._hold(batch, epoch)
                if batch:
                    self.pipeline.progress.started()
                    # events below a boundary whose epoch the leader already closed came
                    # after the backlog's end: scored as they come, not left for an epoch
                    await self._process(batch, defer=epoch is not None and not self._closed)
                if epoch is not None:
                    await self._report(epoch)
                if batch:
                    progress = self.pipeline.progress
                    progress.behind = sum(self.pipeline.lag.get((tp.topic, tp.partition), 0) for tp in owned)
                    progress.worked()

    # -- the event-time barrier (SEGSTREAM_EVENT_EPOCH_S > 0, agents/epochs.py)

    async def _current_epoch(self) -> int | None:
        """The boundary events must stay below, or None (no barrier, or the stream is live)."""
        if self._barrier is None:
            return None
        barrier = self._barrier
        ep = await self.pipeline.redis("epoch", barrier.epoch)
        epoch, self._closed = ep.next, ep.done == ep.next
        if epoch != self._epoch:  # moved on: what waited may go
            if self._paused:
                self.consumer.resume(*(self._paused & self.consumer.assignment()))
            self._paused.clear()
            self._reported.clear()
            self._epoch = epoch
            for tp, held in self._held.items():
                out = held.release_all() if epoch == LIVE else held.release(epoch)
                if out:
                    self._released[tp] = out
        return None if epoch == LIVE else epoch

    def _hold(self, batch: dict[TopicPartition, list[Any]], epoch: int) -> dict[TopicPartition, list[Any]]:
        """Each partition's records to apply now; those at or past the boundary are held
        (agents/holding.py), and a partition holding ``HOLD_PER_PARTITION`` events is
        paused and rewound to its first record not read."""
        out: dict[TopicPartition, list[Any]] = {}
        for tp, recs in batch.items():
            held = self._held.get(tp)
            if held is None:
                held = self._held[tp] = Holding(probe, self._ahead_us)
            apply, taken = held.admit(recs, epoch, self._hold_cap)
            if taken:
                self._read_to[tp] = recs[taken - 1].offset + 1
            if apply:
                out[tp] = apply
            if taken < len(recs):
                self.consumer.seek(tp, recs[taken].offset)
                self.consumer.pause(tp)
                self._paused.add(tp)
        return out

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Partitions gone in a rebalance: their held events are the next owner's to read
        (nothing past the first was committed)."""
        for tp in partitions:
            self._held.pop(tp, None)
            self._read_to.pop(tp, None)
            self._released.pop(tp, None)
            self._paused.discard(tp)

    async def _report(self, epoch: int) -> None:
        """Tell the leader where this worker's partitions stand: read to the end (or as
        far as they may hold), with the earliest event time they hold, or busy."""
        news: dict[str, Position] = {}
        gone = []
        for tp in self.consumer.assignment():
            name = partition_name(tp.topic, tp.partition)
            held = self._held.get(tp)
            earliest = held.earliest() if held is not None else None
            if tp in self._paused:
                news[name] = Position(epoch, earliest)
                continue
            end = self.consumer.highwater(tp)
            if end is not None and await self.consumer.position(tp) >= end:
                news[name] = Position(epoch, earliest)
            elif name in self._reported:  # reported before, records since
                gone.append(name)
                del self._reported[name]
        news = {n: p for n, p in news.items() if self._reported.get(n) != p}
        if news or gone:
            barrier = self._barrier
            assert barrier is not None
            await self.pipeline.redis("barrier", partial(barrier.report, news, gone))
            self._reported.update(news)

    async def _fetch(self, size: int, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        """A batch with an equal share of every assigned partition's buffered records.

        A plain ``getmany`` drains the partitions one after the other (a fetch buffers up to
        1 MiB of each), so a replay would run one topic's partition far ahead of the others
        in event time; taking a share of each keeps the partitions, and the topics, in step."""
        parts = self.consumer.assignment()
        share = max(1, size // max(1, len(parts)))
        batch: dict[TopicPartition, list[Any]] = {}
        for tp in parts:
            batch.update(await self.consumer.getmany(tp, timeout_ms=0, max_records=share))
        if not batch:  # nothing buffered: wait for whatever comes first
            batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=size)
        return batch

    async def _process(self, batch: dict[TopicPartition, list[Any]], defer: bool = False) -> None:
        records = [(self.kind_of[tp.topic], r) for tp, recs in batch.items() for r in recs]
        await self._narrow(records, defer)
        offsets = {}
        for tp, recs in batch.items():
            held = self._held.get(tp)
            first_held = held.first_offset() if held is not None else None
            end = max(recs[-1].offset + 1, self._read_to.get(tp, 0))
            # never past an event still held: a restart must read it again
            offsets[tp] = end if first_held is None else min(first_held, end)
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:  # replays are skipped by the state's offsets
            log.warning("offset commit failed (%s); the batch may be read again and skipped", exc)

    async def _narrow(self, records: list[tuple[str, Any]], defer: bool = False) -> None:
        """Process the records; if that raises for a reason nobody foresaw, split them in
        halves (in order) and process each, down to the single records that fail: those
        alone go to the dead-letter topic, the rest are applied. A replayed half is skipped
        by the offsets its customers recorded, so nothing counts twice."""
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for kind, rec in records:
            by_kind[kind].append(rec)
        try:
            await self.pipeline.process(by_kind, defer)
        except Exception as exc:  # a bug must not lose, or take down, the valid events about to be committed
            if fatal.refused(exc):  # access refused (ACL, credentials): no event's fault; stop
                fatal.stop("a batch", exc)
            if len(records) == 1:
                log.exception("event %s/%d/%d failed; to the dead-letter topic", records[0][0],
                              records[0][1].partition, records[0][1].offset)  # fmt: skip
                await self.pipeline.sink.dead_letter_batch([records[0][1]], exc)
                return
            log.warning("batch of %d failed (%s: %s); narrowing it down", len(records), type(exc).__name__, exc)
            half = len(records) // 2
            await self._narrow(records[:half], defer)
            await self._narrow(records[half:], defer)


class _Stamp(msgspec.Struct):
    ts: datetime | None = None
    customer_id: str | None = None


_STAMP = msgspec.json.Decoder(_Stamp)


def probe(raw: bytes | None) -> tuple[int | None, str | None]:
    """An event's time (µs) and customer id, read without validating the rest; None
    for either when it has none (or it is unreadable).

    >>> probe(b'{"x": 1, "ts": "1970-01-01T00:00:01Z", "customer_id": "c1"}'), probe(b"oops")
    ((1000000, 'c1'), (None, None))
    """
    try:
        stamp = _STAMP.decode(raw or b"")
    except Exception:  # anything unreadable is the codec's to judge
        return None, None
    ts = stamp.ts
    return (to_us(ts) if ts is not None and ts.tzinfo is not None else None), stamp.customer_id


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pipeline = self.ingest.pipeline
        pipeline.progress.revoked()
        # the batch in flight finishes (saved, committed) before the partitions move on
        try:
            async with asyncio.timeout(REVOKE_WAIT_S):
                async with self.ingest._lock:
                    pass
        except TimeoutError:
            log.warning("batch still in flight after %ss of a rebalance; its partitions move on", REVOKE_WAIT_S)
        for tp in revoked:  # no lag is known for partitions this worker no longer reads
            pipeline.forget(tp.topic, tp.partition)
        self.ingest.forget(revoked)
        if revoked:
            log.info("partitions revoked: %s", sorted(partition_name(tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %d", len(assigned))
        self.ingest.pipeline.progress.assigned(len(assigned))


def register(app: Any, pipeline: Pipeline) -> None:
    """Start the batch consumer with the app (and stop it with the app)."""
    app._extra_services.append(Ingest(pipeline, loop=app.loop, beacon=app.beacon))
