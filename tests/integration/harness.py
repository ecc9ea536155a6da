"""Helpers of the integration tests: worker processes, consumers, store reads."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from segstream.config import Settings
from segstream.state.barrier import Barrier, partition_names
from segstream.state.store import Store
from segstream.streams.security import client_kwargs

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGSTREAM_")} | settings.as_env()


class _Process:
    """A real `segstream` subprocess with these settings, logging to artifacts/."""

    what = "process"

    def __init__(self, settings: Settings, command: str, log_name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.settings = settings
        self.log_path = ARTIFACTS / log_name
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segstream", command],
            env=settings_env(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """True while it runs; an exit is a failure, with the end of its log."""
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.what} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        return True

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
        """:func:`wait_until` while it runs; a timeout says what its log ends with."""
        try:
            wait_until(lambda: self.alive() and predicate(), timeout, what, every)
        except AssertionError as exc:
            if self.proc.poll() is not None:  # alive() said so, log included
                raise
            raise AssertionError(f"{exc}:\n{self.log()[-3000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class WorkerProcess(_Process):
    """A real `segstream worker`."""

    what = "worker"

    def __init__(self, settings: Settings, name: str) -> None:
        super().__init__(settings, "worker", f"worker-{name}-{settings.app_id}.log")

    def wait_ready(self, timeout: float = 120.0) -> None:
        # a worker restarted after a SIGKILL joins the group only once the killed member's
        # Kafka session has expired (~60 s, Faust's broker_session_timeout): allow for it
        self.wait_for(lambda: "Worker]: Ready" in self.log(), timeout, "the worker ready", every=0.2)


class ApiProcess(_Process):
    """A real `segstream api` (the customer documents, listings, operators' views and the
    dashboard; a worker serves only /health, /ready and /metrics), listening when made."""

    what = "API"

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        super().__init__(settings, "api", f"api-{settings.app_id}-{settings.api_port}.log")
        port = f"127.0.0.1:{settings.api_port}"
        self.wait_for(lambda: reachable(port), timeout, f"the API listening on {port}")


#: What only a worker answers (on its web port); everything else is the standalone API's.
WORKER_PATHS = ("/ready", "/metrics")


def http_url(s: Settings, path: str) -> str:
    """The URL of ``path`` on whichever process serves it: the worker or the API."""
    port = s.web_port if path.split("?")[0] in WORKER_PATHS else s.api_port
    return f"http://127.0.0.1:{port}{path}"


def consume(settings: Settings, topic: str, n: int, timeout: float = 60.0) -> list[Any]:
    """The first ``n`` records of a topic (all partitions, from the beginning)."""
    consumer = KafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        **client_kwargs(settings),
    )
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < deadline:
            out.extend(consumer)
    finally:
        consumer.close()
    return out


def consume_all(settings: Settings, topic: str, idle_ms: int = 3000) -> list[Any]:
    """Every record of a topic, read until nothing more arrives for ``idle_ms``."""
    consumer = KafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
        **client_kwargs(settings),
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def read_store(settings: Settings, fn: Callable[[Store], Any]) -> Any:
    async def run() -> Any:
        store = Store.from_settings(settings)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


def wait_for_events(settings: Settings, topic: str, expected: int, timeout: float = 120.0) -> dict[str, int]:
    """Poll the store's counters until ``expected`` events of ``topic`` are applied."""
    deadline = time.monotonic() + timeout
    stats: dict[str, int] = {}
    while time.monotonic() < deadline:
        stats = read_store(settings, lambda s: s.stats())
        if stats.get(f"events:{topic}", 0) >= expected and settled(settings):
            return stats
        time.sleep(0.5)
    raise AssertionError(f"only {stats.get(f'events:{topic}', 0)} of {expected} {topic} applied: {stats}")


def applied_total(settings: Settings) -> int:
    stats = read_store(settings, lambda s: s.stats())
    return sum(v for k, v in stats.items() if k.startswith("events:"))


def wait_for_counts(settings: Settings, counts: dict[str, int], timeout: float = 240.0) -> dict[str, int]:
    """Poll until each topic's applied-event counter reaches ``counts`` (fails on timeout)."""
    deadline = time.monotonic() + timeout
    stats: dict[str, int] = {}
    while time.monotonic() < deadline:
        stats = read_store(settings, lambda s: s.stats())
        if all(stats.get(f"events:{k}", 0) >= n for k, n in counts.items()) and settled(settings):
            return stats
        time.sleep(0.5)
    raise AssertionError(f"not all applied in {timeout}s: {stats} (want {counts})")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def produce_events(settings: Settings, events: Any) -> int:
    """Send events to their input topics with kafka-python (acks=all), in order."""
    from segstream.feeders.producer import make_producer, send_events, topic_router

    producer = make_producer(settings)
    try:
        return send_events(producer, topic_router(settings), events, progress=False)
    finally:
        producer.close()


def run_script(*args: str, env: dict[str, str] | None = None) -> str:
    """Run an infra/ script (Kafka or Redis start/stop); fail with its output."""
    proc = subprocess.run(
        [str(ROOT / "infra" / args[0]), *args[1:]],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def metrics(s: Settings) -> dict[str, float]:
    """The worker's /metrics as {series: value} (labels kept in the series name)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def settled(s: Settings) -> bool:
    """No event-time barrier, or every partition drained and the last epoch's sweep and
    snapshots done (a catch-up's events are scored at the end of their epoch)."""
    if not s.event_epoch_s:
        return True

    names = partition_names(s.topic, s.partitions)
    return bool(read_store(s, lambda store: Barrier(store.client, store.keys).settled(names)))


def every_record(s: Settings, topic: str) -> list[Any]:
    """All records of a topic up to its end offsets as they are now (no idle time window)."""
    consumer = KafkaConsumer(
        bootstrap_servers=s.kafka_bootstrap.split(","), enable_auto_commit=False, **client_kwargs(s)
    )
    try:
        name = s.topic(topic)
        tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for recs in consumer.poll(timeout_ms=1000).values():
                out.extend(recs)
        return out
    finally:
        consumer.close()
