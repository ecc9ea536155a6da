"""One event stamped far ahead of a live simulated stream (legal: now + 23 h) moves nobody
else's clock: every other customer ends exactly as in a run without it (real Kafka, Redis,
worker processes, behind the event-time barrier so that both runs are comparable)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice

from segstream.config import Settings
from segstream.feeders.simulator import Simulator
from segstream.streams.schemas import Usage
from tests.integration.harness import WorkerProcess
from tests.integration.test_determinism import run


def test_one_event_at_now_plus_23_hours_leaves_every_other_customer_as_without_it(
    make_settings: Callable[..., Settings], start_worker: Callable[..., WorkerProcess]
) -> None:
    sim = Simulator(150, datetime(2025, 1, 1, tzinfo=UTC), seed=3)
    events = list(islice(sim.events(), 12_000))
    victim = events[len(events) // 2].customer_id
    outlier = Usage(
        event_id="from-the-future", customer_id=victim, ts=datetime.now(UTC) + timedelta(hours=23), action="login"
    )
    hostile = [*events[: len(events) // 2], outlier, *events[len(events) // 2 :]]
    clean_run = run(make_settings, start_worker, events, batch_size=2000)
    hostile_run = run(make_settings, start_worker, hostile, batch_size=2000)
    (c_seg, c_risk, c_alerts, c_versions, c_clock), (h_seg, h_risk, h_alerts, h_versions, h_clock) = (
        clean_run,
        hostile_run,
    )
    assert h_clock == c_clock < int((datetime(2026, 1, 1, tzinfo=UTC)).timestamp() * 1e6)
    others = set(c_seg) - {victim}
    assert len(others) >= 140
    # what the clock decides (clusters are learned from the population, the victim included:
    # one more event of any time changes what the learner saw)
    timed = ("lifecycle", "rfm", "value", "churn_risk")

    def clocked(seg: dict[str, dict[str, str]]) -> dict[str, dict[str, str | None]]:
        return {c: {d: seg[c].get(d) for d in timed} for c in others}

    assert clocked(h_seg) == clocked(c_seg)
    assert {c: h_risk[c] for c in others} == {c: c_risk[c] for c in others}
    assert [a for a in h_alerts if a[0] != victim] == [a for a in c_alerts if a[0] != victim]
    assert h_versions == c_versions
    # the victim applied the event: it looks active, not silent
    assert h_seg[victim].get("lifecycle") not in {"at_risk", "churned"}
