from __future__ import annotations

import itertools
import math

import pytest

from segstream.models.decay import US_PER_DAY, add, at, tau_us


def test_tau_of_a_one_day_half_life_halves_a_sum_in_one_day() -> None:
    tau = tau_us(1.0)
    assert at(8.0, 0, US_PER_DAY, tau) == pytest.approx(4.0, rel=1e-12)
    assert at(8.0, 0, 3 * US_PER_DAY, tau) == pytest.approx(1.0, rel=1e-12)


def test_sum_never_grows_when_asked_about_a_time_before_its_reference() -> None:
    assert at(5.0, 10 * US_PER_DAY, 0, tau_us(1.0)) == 5.0


def test_hand_computed_sum_of_three_events() -> None:
    # half-life 2 days; events at days 0, 2, 4, read at day 4: 0.25 + 0.5 + 1
    tau = tau_us(2.0)
    v, ref = 0.0, 0
    for day in (0, 2, 4):
        v, ref = add(v, ref, 1.0, day * US_PER_DAY, tau)
    assert v == pytest.approx(1.75, rel=1e-12) and ref == 4 * US_PER_DAY


def test_decayed_sum_is_independent_of_arrival_order() -> None:
    tau = tau_us(7.0)
    events = [(3, 1.0), (0, 2.0), (10, 0.5), (6, 1.5)]
    results = []
    for perm in itertools.permutations(events):
        v, ref = 0.0, 0
        for day, w in perm:
            v, ref = add(v, ref, w, day * US_PER_DAY, tau)
        results.append((v, ref))
    assert all(r[1] == 10 * US_PER_DAY for r in results)
    assert all(math.isclose(r[0], results[0][0], rel_tol=1e-12) for r in results)


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError, match="half-life"):
        tau_us(0)
