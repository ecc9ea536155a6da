"""segstream on a secured Kafka: a broker of its own with a SASL_SSL listener (client
certificates required), certificates made by openssl/keytool for this run, and SCRAM users
made by Kafka's own tooling (at format time) and API (AlterUserScramCredentials)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from segstream.config import Settings
from segstream.feeders.producer import make_producer
from tests.integration.conftest import SecureKafka
from tests.integration.harness import (
    WorkerProcess,
    applied_total,
    every_record,
    http_url,
    read_store,
    settings_env,
    wait_until,
)
from tests.tls import make_ca

TOKEN = "sec-T0ken-42"


def cli(s: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segstream", *args], env=settings_env(s), capture_output=True, text=True, timeout=timeout
    )


def secrets_of(s: Settings) -> list[str]:
    return [*s.secret_values(), TOKEN]


def test_the_whole_pipeline_runs_through_sasl_ssl_and_prints_no_secret(
    secure_kafka: SecureKafka, make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = secure_kafka.settings(make_settings, api_token=TOKEN, log_level="debug")
    assert len(secrets_of(s)) >= 3  # the SASL password, the client key's password, the token
    worker = start_worker(s)
    fed = cli(s, "simulate", "--customers", "40", "--events", "1500", "--rate", "0", "--no-progress")
    assert fed.returncode == 0, fed.stderr
    producer = make_producer(s)
    producer.send(s.topic("purchases"), key=b"bad", value=b'{"event_id": "x", "customer_id": "bad"}').get(30)
    producer.close()
    wait_until(lambda: applied_total(s) >= 1500, 120, "the simulated events applied")
    wait_until(lambda: read_store(s, lambda st: st.stats()).get("dlq:missing_field", 0) == 1, 30, "the dead letter")

    assert every_record(s, "segment_changes"), "no segment change came out through SASL_SSL"
    letters = [json.loads(r.value) for r in every_record(s, "dlq")]
    assert [d["reason"] for d in letters] == ["missing_field"]
    status = cli(s, "status")
    assert status.returncode == 0 and "lag" in status.stdout.lower(), status.stdout + status.stderr
    listed = cli(s, "dlq", "list")
    assert listed.returncode == 0 and "missing_field" in listed.stdout, listed.stdout + listed.stderr
    watched = cli(s, "watch", "--topic", "segment_changes", "--from-beginning", "--max", "1")
    assert watched.returncode == 0 and json.loads(watched.stdout.splitlines()[0])["customer_id"]

    served = ""
    for path in ("/metrics", "/segments", "/api/overview"):
        with urllib.request.urlopen(http_url(s, path), timeout=10) as resp:
            served += resp.read().decode()
    printed = [worker.log(), served, repr(s), *(p.stdout + p.stderr for p in (fed, status, listed, watched))]
    names = ["worker log", "HTTP answers", "repr", "simulate", "status", "dlq list", "watch"]
    leaks = [
        (names[i], k) for k, secret in enumerate(secrets_of(s)) for i, text in enumerate(printed) if secret in text
    ]
    assert not leaks, f"secrets printed (where, which secret): {leaks}"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_scram_sha_256_and_plain_users_reach_the_broker(
    secure_kafka: SecureKafka, make_settings: Callable[..., Settings], mechanism: str
) -> None:
    s = secure_kafka.settings(make_settings, mechanism=mechanism)  # make_settings creates the topics through it
    fed = cli(s, "simulate", "--customers", "5", "--events", "50", "--rate", "0", "--no-progress")
    assert fed.returncode == 0, fed.stderr
    status = cli(s, "status")
    assert status.returncode == 0, status.stdout + status.stderr


def one_line_failure(s: Settings, args: tuple[str, ...], expect: str) -> None:
    started = time.monotonic()
    proc = cli(s, *args, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, (args, proc.stderr[-2000:])
    assert expect in lines[0], (args, lines[0])
    assert time.monotonic() - started < 45, args
    for secret in s.secret_values():
        assert secret not in proc.stderr + proc.stdout


COMMANDS = [("status",), ("topics", "create"), ("worker",), ("simulate", "--events", "5", "--no-progress")]


def test_wrong_credentials_a_wrong_ca_or_no_tls_end_in_one_line(
    secure_kafka: SecureKafka, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    good = secure_kafka.settings(make_settings)
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    bad_password = good.model_copy(update={"kafka_sasl_password_file": str(wrong)})
    for args in COMMANDS:
        # "refused the credentials of user 'segstream' (SCRAM-SHA-512)" when the broker's error
        # reaches the client before it closes the connection, else a hint naming the user
        one_line_failure(bad_password, args, "user 'segstream' (SCRAM-SHA-512)")
    other_ca = make_ca(tmp_path, "other-ca")
    bad_ca = good.model_copy(update={"kafka_ssl_cafile": str(other_ca)})
    one_line_failure(bad_ca, ("status",), "TLS with Kafka at")
    one_line_failure(bad_ca, ("worker",), "TLS with Kafka at")
    plaintext = good.model_copy(
        update={
            "kafka_security_protocol": "PLAINTEXT",
            "kafka_sasl_username": "",
            "kafka_sasl_password_file": "",
            "kafka_ssl_cafile": "",
            "kafka_ssl_certfile": "",
            "kafka_ssl_keyfile": "",
            "kafka_ssl_key_password_file": "",
        }
    )
    one_line_failure(plaintext, ("status",), "SEGSTREAM_KAFKA_SECURITY_PROTOCOL")
