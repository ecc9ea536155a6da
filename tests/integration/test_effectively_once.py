"""Exact state under faults: SIGKILL, Redis outage, broker restart, rebalance.

Each test sends simulated mixed events (profiles, purchases, usage, feedback) through a
real Kafka broker to real worker processes and compares the final Redis state with a
pandas computation over the same events: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice

import msgspec
import pytest

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from segstream.streams.schemas import Event
from tests.integration.harness import (
    WorkerProcess,
    applied_total,
    free_port,
    metrics,
    produce_events,
    read_store,
    wait_for_counts,
    wait_until,
)
from tests.integration.truth import compute_truth, mismatches

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def simulated(n: int, customers: int, seed: int) -> list[Event]:
    return list(islice(Simulator(customers, T0, seed).events(), n))


def assert_exact(s: Settings, events: list[Event]) -> None:
    truth = compute_truth(events)
    stats = wait_for_counts(s, truth.counts)
    customers = read_store(s, lambda st: st.scan_customers())
    assert mismatches(truth, customers) == []
    # the counters are written atomically with the states: equal means nothing applied twice
    assert {k: stats[f"events:{k}"] for k in truth.counts} == truth.counts


def test_worker_killed_mid_stream_and_restarted_ends_exactly_at_batch_truth(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings(batch_size=500)
    events = simulated(100_000, customers=3000, seed=11)
    first = start_worker(s, "first")
    produce_events(s, events)
    wait_until(lambda: applied_total(s) >= 25_000, 120, "a quarter of the events applied")
    first.kill()
    killed_at = applied_total(s)
    assert killed_at < len(events), "the worker finished before it could be killed"
    start_worker(s, "restarted")
    assert_exact(s, events)


def test_redis_outage_of_ten_seconds_holds_the_batch_and_loses_nothing(
    private_redis: Callable[[str], str],
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    s = make_settings(redis_url=private_redis("url"), batch_size=200, redis_retry_max_s=1.0)
    events = simulated(40_000, customers=1500, seed=12)
    worker = start_worker(s)
    produce_events(s, events[:5_000])
    wait_until(lambda: applied_total(s) >= 5_000, 120, "events applied before the outage")
    private_redis("down")
    produce_events(s, events[5_000:])  # the worker has work to do while Redis is away

    def retries() -> float:
        return sum(v for k, v in metrics(s).items() if k.startswith("segstream_redis_retries_total"))

    wait_until(lambda: metrics(s)["segstream_redis_unavailable"] == 1, 60, "the worker to find Redis down")
    # the batch held through ten retries: with the back-off capped at 1 s, about ten seconds
    wait_until(lambda: retries() >= 10, 60, "ten retries of the held batch", every=0.5)
    assert worker.proc.poll() is None, "the worker died during the Redis outage"
    during = metrics(s)  # served during the outage (populations as last read)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{s.api_port}/segments", timeout=10)
        raise AssertionError("/segments answered 200 while Redis was down")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503 and "Redis unavailable" in json.loads(exc.read())["error"]
    private_redis("up")
    assert_exact(s, events)
    log = worker.log()
    assert "Redis unavailable" in log and "Redis back after" in log
    assert during["segstream_redis_unavailable"] == 1
    assert sum(v for k, v in during.items() if k.startswith("segstream_redis_retries_total")) > 0
    assert metrics(s)["segstream_redis_unavailable"] == 0


def test_broker_restart_mid_stream_recovers_with_exact_state(
    private_kafka: Callable[[str], str],
    make_settings: Callable[..., Settings],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    s = make_settings(kafka_bootstrap=private_kafka("bootstrap"), batch_size=200)
    events = simulated(40_000, customers=1500, seed=13)
    produce_events(s, events)
    start_worker(s)
    wait_until(lambda: applied_total(s) >= 5_000, 120, "events applied before the restart")
    private_kafka("down")
    time.sleep(3)
    private_kafka("up")
    assert_exact(s, events)


def test_second_worker_joining_mid_stream_rebalances_without_loss_or_double_count(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    s = make_settings(batch_size=300)
    events = simulated(60_000, customers=2000, seed=14)
    start_worker(s, "a")
    produce_events(s, events[:10_000])
    wait_until(lambda: applied_total(s) >= 5_000, 120, "events applied before the second worker")

    # the stream flows before "b" joins and after it has taken partitions over
    chunks = [events[i : i + 2000] for i in range(10_000, len(events), 2000)]
    for chunk in chunks[: len(chunks) // 2]:
        produce_events(s, chunk)
    s_b = s.model_copy(update={"web_port": free_port()})
    b = start_worker(s_b, "b", ready=False)
    wait_until(lambda: re.search(r"partitions assigned: [1-9]", b.log()) is not None, 120, "b to take partitions")
    for chunk in chunks[len(chunks) // 2 :]:
        produce_events(s, chunk)
    assert_exact(s, events)
    assert b.proc.poll() is None

    def applied_by(w: Settings) -> float:
        return sum(v for k, v in metrics(w).items() if k.startswith("segstream_events_total{") and "applied" in k)

    # both shared the partitions (the second took some over mid-stream) ...
    per_worker = [applied_by(w) for w in (s, s_b)]
    assert min(per_worker) > 0 and sum(per_worker) == len(events)
    # ... and scored with the one model the leader publishes: neither learns its own, so the
    # versions they last loaded are versions the leader stored (the latest, or one before it)
    from segstream.models.rfm import RFMSnapshot

    stored = msgspec.msgpack.decode(read_store(s, lambda st: st.get_snapshot("rfm")), type=RFMSnapshot)
    used = [metrics(w).get('segstream_model_version{model="rfm"}', 0) for w in (s, s_b)]
    assert all(0 < v <= stored.version for v in used), (used, stored.version)


@pytest.mark.parametrize("copies", [3])
def test_duplicate_event_ids_from_producer_retries_apply_once(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess], copies: int
) -> None:
    s = make_settings()
    events = simulated(3_000, customers=200, seed=15)
    # a retrying producer writes the same event again at new offsets, right after the first
    doubled = [e for e in events for _ in range(copies)]
    start_worker(s)
    produce_events(s, doubled)
    assert_exact(s, events)
