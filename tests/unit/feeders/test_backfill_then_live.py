"""The demo's feeder: history as fast as it is taken, then each event at its own time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from segstream.feeders.producer import backfill_then_live, until
from segstream.streams.schemas import Usage


def usage(ts: datetime, n: int) -> Usage:
    return Usage(event_id=f"e{n}", customer_id="c1", ts=ts, action="login")


def test_history_goes_at_once_and_a_future_event_waits_for_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = time.sleep
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        real_sleep(s)

    monkeypatch.setattr(time, "sleep", sleep)
    now = datetime.now(UTC)
    events = [usage(now - timedelta(days=d), d) for d in (30, 2, 1)] + [usage(now + timedelta(seconds=0.4), 9)]
    said: list[str] = []
    sent = []
    for e in backfill_then_live(iter(events), now, None, say=said.append):
        sent.append((e.event_id, len(slept), datetime.now(UTC) >= e.ts))
    assert [s[0] for s in sent] == ["e30", "e2", "e1", "e9"]
    assert [s[1] for s in sent[:3]] == [0, 0, 0]  # the history did not wait
    assert sent[3][1] > 0 and sent[3][2], "the live event was not held until its time"
    assert said == [f"backfill done: 3 events up to {now.isoformat(timespec='seconds')}; live from here"]


def test_until_stops_at_the_first_event_past_the_end() -> None:
    now = datetime.now(UTC)
    events = [usage(now - timedelta(days=2), 1), usage(now + timedelta(days=1), 2), usage(now - timedelta(days=1), 3)]
    assert [e.event_id for e in until(events, now)] == ["e1"]
