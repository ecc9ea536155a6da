"""Real Kafka and Redis for integration tests, and factories for isolated deployments.

The servers are started by `make test` (infra/test.sh); if either is unreachable every
integration test fails (never skips) with a message saying so. Each test gets its own
topics (uuid suffix), consumer group and Redis key prefix, and real worker processes.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from segstream.config import Settings, load_settings
from segstream.streams.security import client_kwargs
from segstream.streams.topics import create_topics, topic_names
from tests.integration.harness import ARTIFACTS, ApiProcess, WorkerProcess, free_port, reachable, run_script, wait_until
from tests.tls import Pki, make_test_pki


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
            api_port=free_port(),
            api_processes=1,
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
            admin = KafkaAdminClient(
                bootstrap_servers=s.kafka_bootstrap.split(","), bootstrap_timeout_ms=5000, **client_kwargs(s)
            )
            try:
                admin.delete_topics(topic_names(s))
            finally:
                admin.close()
        except Exception:  # best effort: a leftover topic does not affect other tests
            pass


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    """``start(settings)``: a worker, and with the first worker of a deployment its
    standalone API on ``settings.api_port`` (``api=False``: none)."""
    workers: list[WorkerProcess] = []
    apis: dict[int, ApiProcess] = {}

    def start(settings: Settings, name: str = "w", ready: bool = True, api: bool = True) -> WorkerProcess:
        w = WorkerProcess(settings, name)
        workers.append(w)
        if api and settings.api_port not in apis:
            apis[settings.api_port] = ApiProcess(settings)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:
        w.stop()
    for a in apis.values():
        a.stop()


@pytest.fixture
def producer(base_settings: Settings) -> Iterator[KafkaProducer]:
    p = KafkaProducer(
        bootstrap_servers=base_settings.kafka_bootstrap.split(","),
        acks="all",
        linger_ms=5,
        **client_kwargs(base_settings),
    )
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


@dataclass(frozen=True)
class SecureKafka:
    """A broker of the test session's own with a SASL_SSL listener (client certificates
    required) and users for SCRAM-SHA-512 (made at format time), SCRAM-SHA-256 (made through
    Kafka's AlterUserScramCredentials API) and PLAIN."""

    bootstrap: str  # the SASL_SSL listener
    plaintext: str  # its PLAINTEXT listener (admin of the fixture only)
    pki: Pki
    users: dict[str, tuple[str, Path]]  # mechanism -> (user, password file)

    def settings(self, make: Callable[..., Settings], mechanism: str = "SCRAM-SHA-512", **over: Any) -> Settings:
        user, password = self.users[mechanism]
        base: dict[str, Any] = dict(
            kafka_bootstrap=self.bootstrap,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username=user,
            kafka_sasl_password_file=str(password),
            kafka_ssl_cafile=str(self.pki.ca),
            kafka_ssl_certfile=str(self.pki.client_cert),
            kafka_ssl_keyfile=str(self.pki.client_key),
            kafka_ssl_key_password_file=str(self.pki.client_key_pw),
        )
        return make(**(base | over))


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    from kafka.admin import UserScramCredentialUpsertion

    d = tmp_path_factory.mktemp("kafka-sasl-ssl")
    pki = make_test_pki(d / "pki")

    def secret(name: str) -> tuple[str, Path]:
        value = secrets.token_urlsafe(18)  # no , " \\ ; (they break SCRAM and JAAS syntax)
        path = d / f"{name}.pw"
        path.write_text(value + "\n")
        path.chmod(0o600)
        return value, path

    scram512, scram512_file = secret("scram512")
    scram256, scram256_file = secret("scram256")
    plain, plain_file = secret("plain")
    (d / "scram.args").write_text(f"SCRAM-SHA-512=[name=segstream,password={scram512}]\n")
    (d / "plain.users").write_text(f"segstream-plain={plain}\n")
    port, cport, sport = free_port(), free_port(), free_port()
    env = {
        "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(cport), "KAFKA_SASL_SSL_PORT": str(sport),
        "KAFKA_DATA_DIR": str(d / "data"), "KAFKA_HEAP": "384m",
        "KAFKA_SSL_KEYSTORE": str(pki.broker_p12), "KAFKA_SSL_TRUSTSTORE": str(pki.truststore),
        "KAFKA_SSL_PASSWORD_FILE": str(pki.store_pw), "KAFKA_SSL_CLIENT_AUTH": "required",
        "KAFKA_SCRAM_FILE": str(d / "scram.args"), "KAFKA_PLAIN_USERS_FILE": str(d / "plain.users"),
    }  # fmt: skip
    run_script("kafka.sh", "up", env=env)
    try:
        admin = KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{port}"])
        try:
            upsert = UserScramCredentialUpsertion("segstream-256", "SCRAM-SHA-256", scram256)
            assert admin.alter_user_scram_credentials([upsert]) == {"segstream-256": None}
            wait_until(
                lambda: bool(admin.describe_user_scram_credentials(["segstream-256"]).get("segstream-256")),
                30,
                "the SCRAM-SHA-256 user",
            )
        finally:
            admin.close()
        yield SecureKafka(
            bootstrap=f"127.0.0.1:{sport}",
            plaintext=f"127.0.0.1:{port}",
            pki=pki,
            users={
                "SCRAM-SHA-512": ("segstream", scram512_file),
                "SCRAM-SHA-256": ("segstream-256", scram256_file),
                "PLAIN": ("segstream-plain", plain_file),
            },
        )
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(d / "data" / "logs" / "server.log", ARTIFACTS / "kafka-sasl-ssl-server.log")
        run_script("kafka.sh", "down", env=env)
