"""The simulator's population over time: signups spread over the history, churners who stop,
and churners who come back after a pause (the demo's reactivated customers)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import pytest

from segstream.feeders.simulator import Simulator

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def by_customer(sim: Simulator, days: float) -> dict[str, list[datetime]]:
    end = T0 + timedelta(days=days)
    out: dict[str, list[datetime]] = defaultdict(list)
    for e in takewhile(lambda e: e.ts <= end, sim.events()):
        out[e.customer_id].append(e.ts)
    return out


def test_signups_are_spread_over_the_days_asked_for() -> None:
    sim = Simulator(400, T0, seed=5, signup_days=365)
    signups = sorted((c.signup - T0).days for c in sim.population)
    assert signups[0] >= 0 and signups[-1] <= 365
    # uniform: about a quarter in each quarter of the year (binomial sd ~ 9 of 100)
    quarters = [sum(q * 91.25 <= d < (q + 1) * 91.25 for d in signups) for q in range(4)]
    assert all(60 <= n <= 140 for n in quarters), quarters


def test_churners_who_come_back_are_silent_between_churn_and_return_and_active_after() -> None:
    sim = Simulator(300, T0, seed=6, comeback_share=1.0)
    events = by_customer(sim, 900)
    back = [c for c in sim.population if c.back_at is not None]
    assert back and all(c.churn_at is not None for c in back)
    assert len(back) == sum(c.churn_at is not None for c in sim.population)  # share 1: every churner
    returned = 0
    for c in back:
        assert c.churn_at is not None and c.back_at is not None
        assert (c.back_at - c.churn_at).days >= 60
        ts = events[c.customer_id]
        assert not [t for t in ts if c.churn_at <= t < c.back_at], c
        if c.gone_at is not None:
            assert not [t for t in ts if t >= c.gone_at]
        returned += any(t >= c.back_at for t in ts)
    assert returned >= len([c for c in back if c.back_at < T0 + timedelta(days=800)]) * 0.8


def test_without_comebacks_churners_never_come_back() -> None:
    sim = Simulator(300, T0, seed=6)
    events = by_customer(sim, 900)
    assert all(c.back_at is None for c in sim.population)
    for c in sim.population:
        if c.churn_at is not None:
            # at most the first event of each kind after the churn time (a known quirk of
            # seeded streams, kept as it was: feeders/simulator.py)
            assert len([t for t in events[c.customer_id][1:] if t >= c.churn_at]) <= 3


@pytest.mark.parametrize(("days", "share"), [(0, 0.0), (30, 1.5), (30, -0.1)])
def test_impossible_population_settings_are_refused(days: float, share: float) -> None:
    with pytest.raises(ValueError, match="signup_days"):
        Simulator(10, T0, signup_days=days, comeback_share=share)
