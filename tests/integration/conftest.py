"""Real Kafka and Redis for integration tests, and factories for isolated deployments.

The servers are started by `make test` (infra/test.sh); if either is unreachable every
integration test fails (never skips) with a message saying so. Each test gets its own
topics (uuid suffix), consumer group and Redis key prefix, and real worker processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from segstream.config import Settings, load_settings
from segstream.streams.topics import create_topics, topic_names
from tests.integration.harness import WorkerProcess, free_port, reachable, run_script


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path) or "tests/e2e" in str(item.path):
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
            # tests step the clock with a few events in a few partitions: those partitions
            # must not hold the scoring clock back for long once nothing more arrives
            idle_partition_s=1.0,
        )
        fields.update(overrides)
        s = Settings(**fields)
        create_topics(s)
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            if s.redis_cluster:  # scan_iter walks every primary; UNLINK is split by slot
                rc = redis.RedisCluster.from_url(s.redis_url, socket_connect_timeout=2)
                keys = list(rc.scan_iter(match=f"{s.redis_prefix}:*", count=1000))
                for i in range(0, len(keys), 1000):
                    rc.unlink(*keys[i : i + 1000])
                rc.close()
            else:
                r = redis.Redis.from_url(s.redis_url, socket_connect_timeout=2)
                keys = list(r.scan_iter(match=f"{s.redis_prefix}:*", count=1000))
                if keys:
                    r.unlink(*keys)
        except redis.RedisError:  # a test's private server may be gone already
            pass
        try:
            admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap.split(","), bootstrap_timeout_ms=5000)
            try:
                admin.delete_topics(topic_names(s))
            finally:
                admin.close()
        except Exception:  # best effort: a leftover topic does not affect other tests
            pass


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


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A redis-server of this test's own (persistence on), controlled by infra/redis.sh.

    Yields ``control(action)`` for ``up``/``down``; the URL is ``control("url")``.
    """
    port = free_port()
    env = {"REDIS_PORT": str(port), "REDIS_PERSIST": "1", "REDIS_DATA_DIR": str(tmp_path / "redis")}
    run_script("redis.sh", "up", env=env)

    def control(action: str) -> str:
        return f"redis://127.0.0.1:{port}/0" if action == "url" else run_script("redis.sh", action, env=env)

    yield control
    run_script("redis.sh", "down", env=env)


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A Kafka broker of this test's own (other ports, own data dir), via infra/kafka.sh."""
    port, cport = free_port(), free_port()
    env = {"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(cport), "KAFKA_DATA_DIR": str(tmp_path / "kafka")}
    run_script("kafka.sh", "up", env=env)

    def control(action: str) -> str:
        return f"127.0.0.1:{port}" if action == "bootstrap" else run_script("kafka.sh", action, env=env)

    yield control
    run_script("kafka.sh", "down", env=env)
