"""A customer's purchases as BG/NBD and Gamma-Gamma see them: one transaction per purchase day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.rfm import PurchaseSummary

D = US_PER_DAY
HOUR = D // 24


def summary(*purchases: tuple[int, int]) -> PurchaseSummary:
    """The summary of purchases ``(ts_us, cents)`` added in the given order."""
    s = PurchaseSummary()
    for ts, cents in purchases:
        s = s.add(ts, cents)
    return s


def random_purchases(seed: int, n: int = 30) -> list[tuple[int, int]]:
    """``n`` purchases over ~60 days, several on some days, in time order."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 60, n)
    hours = rng.integers(0, 24, n)
    cents = rng.integers(100, 20_000, n)
    times = sorted(int(d) * D + int(h) * HOUR + i for i, (d, h) in enumerate(zip(days, hours, strict=True)))
    return list(zip(times, (int(c) for c in cents), strict=True))


def pandas_history(purchases: list[tuple[int, int]], now_us: int) -> tuple[int, float, float, float]:
    """``(x, t_x, T, m_x)`` computed the batch way: sum per UTC day, then the repeat days."""
    df = pd.DataFrame(purchases, columns=["ts", "cents"])
    per_day = df.groupby(df["ts"] // D)["cents"].sum().sort_index()
    first, last = int(per_day.index[0]), int(per_day.index[-1])
    x = len(per_day) - 1
    t_x = (last - first) / 7 if x else 0.0
    T = (now_us // D - first) / 7
    m_x = float(per_day.iloc[1:].mean()) / 100 if x else 0.0
    return x, t_x, T, m_x


def test_purchases_on_one_day_are_one_transaction() -> None:
    s = summary((10 * D + HOUR, 500), (10 * D + 5 * HOUR, 700), (10 * D + 23 * HOUR, 300))
    assert (s.count, s.days, s.spend_minor, s.first_day_minor) == (3, 1, 1500, 1500)
    assert s.repeat_history(now_us=20 * D) == (0, 0.0, 10 / 7, 0.0)


def test_same_day_repeat_purchases_are_summed_into_one_repeat_transaction() -> None:
    s = summary((0, 1000), (7 * D + HOUR, 2000), (7 * D + 9 * HOUR, 4000))
    assert (s.count, s.days) == (3, 2)
    assert s.repeat_history(now_us=14 * D) == (1, 1.0, 2.0, 60.0)


def test_first_day_spend_is_excluded_from_the_mean_repeat_value() -> None:
    s = summary((0, 100_000), (HOUR, 50_000), (7 * D, 1000), (14 * D, 3000))
    assert s.first_day_minor == 150_000
    x, _, _, m_x = s.repeat_history(now_us=14 * D)
    assert (x, m_x) == (2, 20.0)


def test_a_late_purchase_before_the_first_day_becomes_the_new_first_day() -> None:
    s = summary((5 * D, 1000), (9 * D, 3000), (2 * D, 400))  # the day-2 purchase arrives last
    assert (s.first_us, s.days, s.first_day_minor) == (2 * D, 3, 400)
    # repeat days are now days 5 and 9: from day 2, t_x = 7 days, T = 12 days, m_x = (10 + 30) / 2
    assert s.repeat_history(now_us=14 * D, unit_days=1.0) == (2, 7.0, 12.0, 20.0)


def test_a_late_purchase_on_the_first_day_adds_to_the_first_day_spend() -> None:
    s = summary((5 * D + HOUR, 1000), (9 * D, 3000), (5 * D, 400))
    assert (s.days, s.first_day_minor) == (2, 1400)
    assert s.repeat_history(now_us=9 * D, unit_days=1.0) == (1, 4.0, 4.0, 30.0)


@pytest.mark.parametrize("seed", range(5))
def test_repeat_history_matches_a_pandas_groupby_of_purchases_sent_in_time_order(seed: int) -> None:
    purchases = random_purchases(seed)
    now = purchases[-1][0] + 10 * D + 3 * HOUR
    s = summary(*purchases)
    assert s.days < s.count  # some days have several purchases
    got = s.repeat_history(now_us=now)
    want = pandas_history(purchases, now)
    assert got[0] == want[0]
    assert got[1:] == pytest.approx(want[1:])
    assert s.count == len(purchases) and s.spend_minor == sum(c for _, c in purchases)


def test_t_x_and_age_count_whole_days_not_hours() -> None:
    s = summary((23 * HOUR, 1000), (7 * D + HOUR, 2000))  # 6 days 2 hours apart, on days 0 and 7
    assert s.repeat_history(now_us=14 * D + 23 * HOUR, unit_days=1.0) == (1, 7.0, 14.0, 20.0)


def test_age_is_never_below_recency() -> None:
    s = summary((0, 1000), (10 * D, 2000))
    x, t_x, T, _ = s.repeat_history(now_us=5 * D, unit_days=1.0)  # scored with a clock behind its purchases
    assert (x, t_x, T) == (1, 10.0, 10.0)


def test_old_record_without_purchase_days_falls_back_to_the_purchase_count() -> None:
    old = PurchaseSummary(first_us=0, last_us=21 * D, count=4, spend_minor=10_000)  # days=0: written before days
    x, t_x, T, _ = old.repeat_history(now_us=28 * D)
    assert (x, t_x, T) == (3, 3.0, 4.0)


def test_old_record_without_purchase_days_counts_on_from_the_purchase_count() -> None:
    old = PurchaseSummary(first_us=0, last_us=21 * D, count=4, spend_minor=10_000)
    s = old.add(28 * D, 500)
    assert (s.count, s.days) == (5, 5)
    assert s.repeat_history(now_us=28 * D)[0] == 4


def test_a_single_purchase_has_no_repeat_history() -> None:
    assert summary((3 * D, 999)).repeat_history(now_us=3 * D) == (0, 0.0, 0.0, 0.0)
