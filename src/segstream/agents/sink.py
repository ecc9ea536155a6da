"""The output sink: batched sends to the output topics, acknowledged, retried while Kafka is
away; and dead letters, each with its bytes, position and reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.exceptions import NotReady
from kafka.errors import KafkaError as SyncKafkaError

from segstream.agents import fatal
from segstream.agents.metrics import Metrics
from segstream.agents.progress import Progress
from segstream.agents.retry import RedisRetry
from segstream.state.store import Store
from segstream.streams.codec import Rejection, encode
from segstream.streams.dead_letters import dead_letter

log = logging.getLogger(__name__)

try:  # aiokafka is what Faust produces with
    from aiokafka.errors import KafkaError as AioKafkaError
except ImportError:  # pragma: no cover
    AioKafkaError = SyncKafkaError

# NotReady: Faust's producer not started yet, or already stopped (a batch in flight while
# the worker shuts down): retried, so the batch is never dead-lettered for it
KAFKA_RETRYABLE = (AioKafkaError, SyncKafkaError, asyncio.TimeoutError, NotReady)
Rejected = tuple[Any, Rejection]  # (Kafka record, why)
Payload = tuple[bytes | None, bytes, Any]  # key, value, headers


class Sink:
    """Sends of one worker: output topics and the dead-letter topic."""

    def __init__(
        self, app: faust.App, dlq: faust.TopicT, store: Store, redis: RedisRetry, metrics: Metrics, progress: Progress
    ) -> None:
        self.app = app
        self.dlq = dlq
        self.store = store
        self.redis = redis
        self.metrics = metrics
        self.progress = progress

    async def send(self, topic: faust.TopicT, payloads: Sequence[Payload]) -> None:
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
                by_partition: dict[int, list[Payload]] = {}
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

    async def dead_letters(self, rejected: list[Rejected]) -> None:
        """Each rejected record to the dead-letter topic with its bytes, position and reason."""
        if not rejected:
            return
        now = datetime.now(UTC)
        payloads: list[Payload] = []
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
        await self.send(self.dlq, payloads)
        reasons = [rej.reason for _, rej in rejected]
        for r in reasons:
            self.metrics.dead_letters.labels(r).inc()
        await self.redis("dead-letter count", partial(self.store.count_dead_letters, reasons))

    async def dead_letter_batch(self, events: Sequence[Any], exc: BaseException) -> None:
        """Last resort after an unexpected error: the whole batch to the dead-letter topic.

        Faust acknowledges a batch when the agent moves on, so a batch that raised would
        otherwise be lost; in the dead-letter topic it keeps its bytes and can be replayed.
        """
        why = Rejection("processing_error", f"{type(exc).__name__}: {exc}")
        await self.dead_letters([(e, why) for e in events])
