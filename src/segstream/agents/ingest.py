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
from functools import cached_property
from typing import Any

import mode
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from segstream.agents.pipeline import Pipeline

log = logging.getLogger(__name__)

KINDS = ("purchases", "usage", "feedback", "profiles")
FETCH_BYTES_PER_PARTITION = 1 << 20  # aiokafka's default
REVOKE_WAIT_S = 60.0  # longest a rebalance waits for the batch in flight
STOP_WAIT_S = 10.0  # longest a shutdown waits for it


class Ingest(mode.Service):
    """Consumes the input topics in batches and hands each topic's share to the pipeline."""

    def __init__(self, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        s = pipeline.settings
        self.kind_of = {s.topic(k): k for k in KINDS}
        self._lock = asyncio.Lock()  # held while a batch is in flight
        self._stopping = False

    @cached_property
    def consumer(self) -> AIOKafkaConsumer:  # created on the running loop (aiokafka needs it)
        s = self.pipeline.settings
        return AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap.split(","),
            group_id=s.app_id,
            client_id=f"{s.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES_PER_PARTITION,
        )

    async def on_start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(topics=list(self.kind_of), listener=_Rebalance(self))
        self.pipeline.highwater = self.consumer.highwater
        self.pipeline.assignment = self.consumer.assignment
        # what start-up built (modules, models, clients) lives as long as the worker: out of
        # the cyclic collector's generations, so full collections stop walking it per batch
        gc.freeze()

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
        while not self._stopping:
            batch = await self._fetch(s.batch_size, timeout_ms)
            if not batch:
                continue
            async with self._lock:
                if self._stopping:
                    return
                # a rebalance may have taken partitions away since the fetch: leave their
                # records to the new owner, which starts from the last committed offset
                owned = self.consumer.assignment()
                batch = {tp: recs for tp, recs in batch.items() if tp in owned}
                if batch:
                    await self._process(batch)

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

    async def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        records = [(self.kind_of[tp.topic], r) for tp, recs in batch.items() for r in recs]
        await self._narrow(records)
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:  # replays are skipped by the state's offsets
            log.warning("offset commit failed (%s); the batch may be read again and skipped", exc)

    async def _narrow(self, records: list[tuple[str, Any]]) -> None:
        """Process the records; if that raises for a reason nobody foresaw, split them in
        halves (in order) and process each, down to the single records that fail: those
        alone go to the dead-letter topic, the rest are applied. A replayed half is skipped
        by the offsets its customers recorded, so nothing counts twice."""
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for kind, rec in records:
            by_kind[kind].append(rec)
        try:
            await self.pipeline.process(by_kind)
        except Exception as exc:  # a bug must not lose, or take down, the valid events about to be committed
            if len(records) == 1:
                log.exception("event %s/%d/%d failed; to the dead-letter topic", records[0][0],
                              records[0][1].partition, records[0][1].offset)  # fmt: skip
                await self.pipeline.dead_letter_batch([records[0][1]], exc)
                return
            log.warning("batch of %d failed (%s: %s); narrowing it down", len(records), type(exc).__name__, exc)
            half = len(records) // 2
            await self._narrow(records[:half])
            await self._narrow(records[half:])


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # the batch in flight finishes (saved, committed) before the partitions move on
        try:
            async with asyncio.timeout(REVOKE_WAIT_S):
                async with self.ingest._lock:
                    pass
        except TimeoutError:
            log.warning("batch still in flight after %ss of a rebalance; its partitions move on", REVOKE_WAIT_S)
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %d", len(assigned))


def register(app: Any, pipeline: Pipeline) -> None:
    """Start the batch consumer with the app (and stop it with the app)."""
    app._extra_services.append(Ingest(pipeline, loop=app.loop, beacon=app.beacon))
