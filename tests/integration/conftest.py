"""Real Kafka and Redis for integration tests, and factories for isolated deployments.

The servers are started by `make test` (infra/test.sh); if either is unreachable every
integration test fails (never skips) with a message saying so. Each test gets its own
topics (uuid suffix), consumer group and Redis key prefix, and real worker processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from segstream.config import Settings, load_settings
from segstream.streams.topics import create_topics, topic_names
from tests.integration.harness import WorkerProcess, free_port, reachable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = load_settings()
    first = settings.kafka_bootstrap.split(",")[0]
    if not reachable(first):
        pytest.fail(f"Kafka is not reachable at {first}: run `make test` (it starts Kafka)", pytrace=False)
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {settings.redis_url} ({exc}): run `make test`", pytrace=False)
    return settings


@pytest.fixture
def make_settings(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Settings]]:
    """Factory of isolated deployments: own topics, consumer group, key prefix, web port."""
    made: list[Settings] = []

    def make(**overrides: Any) -> Settings:
        tag = uuid.uuid4().hex[:10]
        fields = base_settings.model_dump()
        fields.update(
            topic_suffix=f"-t{tag}",
            app_id=f"test-{tag}",
            redis_prefix=f"t{tag}",
            partitions=4,
            data_dir=str(tmp_path_factory.mktemp("faust")),
            web_port=free_port(),
            batch_within=0.05,
        )
        fields.update(overrides)
        s = Settings(**fields)
        create_topics(s)
        made.append(s)
        return s

    yield make
    for s in made:
        r = redis.Redis.from_url(s.redis_url)
        keys = list(r.scan_iter(match=f"{s.redis_prefix}:*", count=1000))
        if keys:
            r.unlink(*keys)
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap.split(","))
        try:
            admin.delete_topics(topic_names(s))
        except Exception:  # best effort: a leftover topic does not affect other tests
            pass
        finally:
            admin.close()


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(settings: Settings, name: str = "w", ready: bool = True) -> WorkerProcess:
        w = WorkerProcess(settings, name)
        workers.append(w)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:
        w.stop()


@pytest.fixture
def producer(base_settings: Settings) -> Iterator[KafkaProducer]:
    p = KafkaProducer(bootstrap_servers=base_settings.kafka_bootstrap.split(","), acks="all", linger_ms=5)
    yield p
    p.close()
