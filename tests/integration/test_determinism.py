"""Same events, same results: a simulated backlog replayed through a fast and a slowed
worker (real Kafka, Redis, worker processes) ends with the same segments for every
customer, the same churn-risk alerts and the same model versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import msgspec

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from segstream.models.clusters import ClusterSnapshot
from segstream.models.rfm import RFMSnapshot
from segstream.models.value import ValueSnapshot
from segstream.streams.schemas import ChurnRisk, Feedback, Profile, Purchase, Usage
from tests.integration.harness import (
    WorkerProcess,
    applied_total,
    every_record,
    produce_events,
    read_store,
    settled,
    wait_for_counts,
    wait_until,
)

KINDS = {Purchase: "purchases", Usage: "usage", Feedback: "feedback", Profile: "profiles"}
DAY_S = 86_400.0


def run(
    make_settings: Callable[..., Settings],
    start: Callable[..., WorkerProcess],
    events: list[Any],
    trickle: int = 0,
    **over: Any,
):
    """The backlog produced first (a replay), or with ``trickle`` > 0 produced while the
    worker runs, in that many parts, each sent once the worker has applied the ones before
    (a producer slower than the worker: the partitions drain between two parts)."""
    s = make_settings(event_epoch_s=DAY_S, idle_partition_s=300, value_fit_interval_s=1, **over)
    if trickle:
        start(s)
        size = -(-len(events) // trickle)
        for i in range(0, len(events), size):
            produce_events(s, events[i : i + size])
            sent = min(i + size, len(events))
            wait_until(lambda n=sent: applied_total(s) >= n, 120, f"the first {sent} events applied", every=0.2)
    else:
        produce_events(s, events)  # the whole backlog first: a replay
        start(s)
    counts: dict[str, int] = {}
    for e in events:
        counts[KINDS[type(e)]] = counts.get(KINDS[type(e)], 0) + 1
    wait_for_counts(s, counts, timeout=240)
    wait_until(lambda: settled(s), 120, "the last epoch's sweep and snapshots", every=0.5)
    customers = read_store(s, lambda st: st.scan_customers())
    segments = {c: dict(sorted(st.segments.items())) for c, st in customers.items()}
    risk = {c: (st.outlook.risk_bp if st.outlook else None) for c, st in customers.items()}
    alerts = sorted(
        (a.customer_id, a.event_id, a.level, a.score)
        for a in (msgspec.json.decode(r.value, type=ChurnRisk) for r in every_record(s, "churn_risk"))
    )
    versions = {}
    for name, typ in (("rfm", RFMSnapshot), ("cluster", ClusterSnapshot), ("value", ValueSnapshot)):
        blob = read_store(s, lambda st, n=name: st.get_snapshot(n))
        versions[name] = msgspec.msgpack.decode(blob, type=typ).version if blob else None
    clock = read_store(s, lambda st: st.clock())["global"]
    return segments, risk, alerts, versions, clock


def test_a_replay_gives_the_same_segments_alerts_and_models_on_a_fast_and_a_slow_worker(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    sim = Simulator(300, datetime(2024, 1, 1, tzinfo=UTC), seed=7)
    events = list(islice(sim.events(), 30_000))
    fast = run(make_settings, start_worker, events, batch_size=5000)
    slow = run(make_settings, start_worker, events, batch_size=400, slow_batch_s=0.05)
    f_seg, f_risk, f_alerts, f_versions, f_clock = fast
    s_seg, s_risk, s_alerts, s_versions, s_clock = slow
    assert f_clock == s_clock
    assert len(f_seg) == 300 and all(f_seg.values())
    assert f_seg == s_seg
    assert f_risk == s_risk
    assert f_alerts == s_alerts and any(a[2] == "high" for a in f_alerts), f_alerts[:5]
    assert f_versions == s_versions and all(f_versions.values()), f_versions


def test_a_backlog_produced_while_the_worker_runs_ends_as_one_produced_first(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    """A worker faster than its producer drains its partitions between two sends; that is
    not the backlog's end, and the epochs, so the snapshots, segments and alerts, are those
    of the same events produced before the worker started (agents/epochs.py, QUIET_S)."""
    sim = Simulator(300, datetime(2024, 1, 1, tzinfo=UTC), seed=7)
    events = list(islice(sim.events(), 30_000))
    first = run(make_settings, start_worker, events, batch_size=5000)
    trickled = run(make_settings, start_worker, events, trickle=6, batch_size=5000)
    assert first[4] == trickled[4]  # the clock
    assert first[3] == trickled[3]  # the model versions: one RFM snapshot an epoch
    assert first[0] == trickled[0]  # the segments
    assert first[1] == trickled[1] and first[2] == trickled[2]  # the risks and alerts
