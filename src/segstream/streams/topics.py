"""Creating segstream's Kafka topics (kafka-python admin client); idempotent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from segstream.config import TOPIC_BASE_NAMES, Settings
from segstream.streams import kinds
from segstream.streams.security import client_kwargs, describe_failure, refused_logins, tls_problem

log = logging.getLogger(__name__)
T = TypeVar("T")


class KafkaUnavailable(Exception):
    """Kafka could not be reached; the message is one line."""


def connect(settings: Settings, make: Callable[[dict[str, Any]], T]) -> T:
    """A kafka-python client from ``make(security keyword arguments)``. A TLS problem,
    refused credentials or an unreachable broker end in one :class:`KafkaUnavailable` line."""
    if problem := tls_problem(settings):
        raise KafkaUnavailable(problem)
    with refused_logins() as refused:
        try:
            return make(client_kwargs(settings))
        except (KafkaError, OSError) as exc:
            raise KafkaUnavailable(describe_failure(settings, exc, refused)) from None


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    created: bool
    partitions: int


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(k) for k in TOPIC_BASE_NAMES]


def admin_client(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    """Kafka's admin client; the first contact of every command, so a TLS problem, wrong
    credentials or an unreachable broker end here in one line (:class:`KafkaUnavailable`)."""
    return connect(
        settings,
        lambda security: KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            reconnect_backoff_max_ms=1000,
            **security,
        ),
    )


def create_topics(settings: Settings, partitions: int | None = None) -> list[TopicResult]:
    """Create every segstream topic that does not exist yet; existing ones are left alone."""
    parts = partitions or settings.partitions
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        results = []
        for name in topic_names(settings):
            if name in existing:
                results.append(TopicResult(name, False, len(admin.describe_topics([name])[0]["partitions"])))
                continue
            try:
                admin.create_topics([NewTopic(name, parts, settings.replication_factor)])
                results.append(TopicResult(name, True, parts))
            except TopicAlreadyExistsError:  # created concurrently by another worker
                results.append(TopicResult(name, False, parts))
        return results
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
    finally:
        admin.close()


INPUT_TOPICS = kinds.NAMES


def consumer_lag(settings: Settings) -> dict[tuple[str, int], tuple[int, int]]:
    """Per input partition: (end offset, the consumer group's committed offset; -1 when it
    has committed none). Lag is their difference."""
    from kafka import KafkaConsumer, TopicPartition

    admin = admin_client(settings)
    consumer = None
    try:
        committed = admin.list_group_offsets({settings.app_id: None}).get(settings.app_id, {})
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap.split(","), client_id=f"{settings.app_id}-status",
            request_timeout_ms=10_000, enable_auto_commit=False, **client_kwargs(settings),
        )  # fmt: skip
        tps = [
            TopicPartition(settings.topic(kind), p)
            for kind in INPUT_TOPICS
            for p in sorted(consumer.partitions_for_topic(settings.topic(kind)) or ())
        ]
        ends = consumer.end_offsets(tps)
        out = {}
        for tp in tps:
            meta = committed.get(tp)
            out[(tp.topic, tp.partition)] = (int(ends[tp]), int(meta.offset) if meta is not None else -1)
        return out
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
    finally:
        admin.close()
        if consumer is not None:
            consumer.close()


def group_state(settings: Settings) -> tuple[str, int]:
    """The input consumer group's state as the broker sees it (``Stable``,
    ``PreparingRebalance``, ``CompletingRebalance``, ``Empty``, ``Dead``) and its members."""
    admin = admin_client(settings)
    try:
        group = admin.describe_groups([settings.app_id]).get(settings.app_id) or {}
        return str(group.get("group_state") or "Dead"), len(group.get("members") or ())
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
    finally:
        admin.close()
