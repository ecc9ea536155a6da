from __future__ import annotations

import math

import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.usage import MAX_SERVICES, UsageModel


def test_steady_daily_use_gives_a_rate_near_one_per_day_and_a_flat_trend() -> None:
    m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    s = None
    for day in range(400):
        s = m.learn_one(s, day * US_PER_DAY)
    f = m.predict_one(s, 399 * US_PER_DAY)
    # a decayed count of one event per day tends to 1 / (1 - exp(-1/tau_days)) ~ tau_days + 1/2
    assert f.rate_short == pytest.approx(1.0, rel=0.08)
    assert f.rate_long == pytest.approx(1.0, rel=0.02)
    assert f.trend == pytest.approx(f.rate_short / f.rate_long)
    assert f.events == 400 and f.days_since_last == 0


def test_trend_falls_below_one_as_a_customer_goes_quiet() -> None:
    m = UsageModel()
    s = None
    for day in range(60):
        s = m.learn_one(s, day * US_PER_DAY)
    trends = [m.predict_one(s, (59 + d) * US_PER_DAY).trend for d in (0, 7, 14, 28)]
    assert trends == sorted(trends, reverse=True) and trends[-1] < 0.5


def test_a_new_customers_steady_use_is_flat_when_the_rates_know_its_tenure() -> None:
    """Daily use on days 0-13, read on day 13 (tau = 7 / ln 2 and 28 / ln 2 days). By hand:
    short sum (1 - e^(-14/10.1)) / (1 - e^(-1/10.1)) = 7.955 over 10.1 x (1 - e^(-13/10.1)) =
    7.31 days: 1.088 a day; long sum 11.98 over 40.4 x (1 - e^(-13/40.4)) = 11.11 days: 1.078
    a day; trend 1.009. Without the tenure the long rate is 11.98 / 40.4 = 0.297 a day and
    the trend 2.66: a new customer's steady use looks like growth, its silence like none."""
    m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    s = None
    for day in range(14):
        s = m.learn_one(s, day * US_PER_DAY)
    f = m.predict_one(s, 13 * US_PER_DAY, since_us=0)
    assert f.rate_short == pytest.approx(1.088, abs=0.002) and f.rate_long == pytest.approx(1.078, abs=0.002)
    assert f.trend == pytest.approx(1.009, abs=0.002)
    raw = m.predict_one(s, 13 * US_PER_DAY)
    assert raw.rate_long == pytest.approx(0.297, abs=0.001) and raw.trend == pytest.approx(2.66, abs=0.01)
    # then 14 days of silence: the raw trend 2.66 x e^(-14/10.1 + 14/40.4) = 2.66 x 0.354 = 0.94
    # (two weeks without use of a daily user, still "flat"); with the tenure, times
    # (1 - e^(-27/40.4)) / (1 - e^(-27/10.1)) = 0.4873 / 0.9310 = 0.524: 0.493
    assert m.predict_one(s, 27 * US_PER_DAY).trend == pytest.approx(0.94, abs=0.01)
    assert m.predict_one(s, 27 * US_PER_DAY, since_us=0).trend == pytest.approx(0.493, abs=0.005)


def test_a_tenure_shorter_than_a_day_counts_as_one_day() -> None:
    m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    f = m.predict_one(m.learn_one(None, 0), 0, since_us=0)
    # one event over one day's share of each horizon: 1 / (tau (1 - e^(-1/tau))), ~1 a day
    assert f.rate_short == pytest.approx(1 / (10.0989 * -math.expm1(-1 / 10.0989)), rel=1e-4)
    assert f.rate_long == pytest.approx(1 / (40.3956 * -math.expm1(-1 / 40.3956)), rel=1e-4)
    assert m.coverage(5 * US_PER_DAY, 0) == m.coverage(0, US_PER_DAY)  # a clock before the first event


def test_one_event_short_rate_is_its_weight_over_tau_days() -> None:
    m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    f = m.predict_one(m.learn_one(None, 0), 0)
    assert f.rate_short == pytest.approx(0.693147 / 7, rel=1e-5)
    assert f.rate_long == pytest.approx(0.693147 / 28, rel=1e-5)


def test_distinct_features_counted_and_repeated_features_not() -> None:
    m = UsageModel()
    s = None
    for name in ["search", "export", "search", "报表", "export"]:
        s = m.learn_one(s, 0, feature=name)
    assert m.predict_one(s, 0).distinct_features == 3


def test_customer_without_usage_has_no_trend() -> None:
    f = UsageModel().predict_one(None, 0)
    assert f.trend is None and f.events == 0


def test_short_half_life_must_be_shorter() -> None:
    with pytest.raises(ValueError, match="shorter"):
        UsageModel(30, 7)


def test_weighted_rates_are_decayed_sums_of_quantity_and_minutes_over_the_long_half_life() -> None:
    m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    s = m.learn_one(None, 0, quantity=5, duration_s=1200)
    s = m.learn_one(s, 14 * US_PER_DAY, quantity=1, duration_s=0)
    f = m.predict_one(s, now_us=28 * US_PER_DAY)
    # by hand: a weight w at day t is worth w * 2 ** -((28 - t) / 28) at day 28; rate = sum * ln2 / 28
    units = 5 * 0.5 + 1 * 2**-0.5
    minutes = 20 * 0.5
    assert f.units_per_day == pytest.approx(units * math.log(2) / 28, rel=1e-12)
    assert f.minutes_per_day == pytest.approx(minutes * math.log(2) / 28, rel=1e-12)
    assert f.events == 2 and f.rate_long == pytest.approx((0.5 + 2**-0.5) * math.log(2) / 28, rel=1e-12)


def test_quantity_one_and_no_duration_store_nothing_and_rate_in_units_equals_the_event_rate() -> None:
    m = UsageModel()
    s = None
    for day in range(10):
        s = m.learn_one(s, day * US_PER_DAY)
    assert s is not None and (s.units, s.minutes) == (None, None)
    f = m.predict_one(s, 12 * US_PER_DAY)
    assert f.units_per_day == f.rate_long and f.minutes_per_day == 0.0
    s = m.learn_one(s, 11 * US_PER_DAY, quantity=3)  # from now on units are kept apart
    zero = m.learn_one(m.learn_one(s, 11 * US_PER_DAY, quantity=0), 11 * US_PER_DAY, quantity=0)
    f, f0 = m.predict_one(s, 12 * US_PER_DAY), m.predict_one(zero, 12 * US_PER_DAY)
    assert f0.units_per_day == pytest.approx(f.units_per_day)  # a quantity of 0 adds no units
    assert f.units_per_day > f.rate_long


def test_services_used_count_within_the_last_30_days_today_included() -> None:
    m = UsageModel()
    s = m.learn_one(None, 10 * US_PER_DAY, service="billing")
    s = m.learn_one(s, 20 * US_PER_DAY + 5, service="reports")
    s = m.learn_one(s, 20 * US_PER_DAY + 9, service="reports")  # the same service twice
    assert m.predict_one(s, 20 * US_PER_DAY).services_30d == 2
    assert m.predict_one(s, 39 * US_PER_DAY + 1).services_30d == 2  # day 10 is the 30th day back from day 39
    assert m.predict_one(s, 40 * US_PER_DAY).services_30d == 1  # day 10 has left the window
    assert m.predict_one(s, 50 * US_PER_DAY).services_30d == 0
    assert m.predict_one(s, 5 * US_PER_DAY).services_30d == 0  # nothing used yet as of day 5


def test_services_remembered_are_bounded_forgetting_the_least_recently_used() -> None:
    m = UsageModel()
    s = None
    for i in range(MAX_SERVICES + 4):
        s = m.learn_one(s, i * US_PER_DAY, service=f"svc-{i}")
    assert s is not None and len(s.services) == MAX_SERVICES
    assert sorted(d for _, d in s.services) == list(range(4, MAX_SERVICES + 4))  # days 0-3 forgotten
    s = m.learn_one(s, 1 * US_PER_DAY, service="svc-1")  # a late use older than all remembered: not kept
    assert sorted(d for _, d in s.services) == list(range(4, MAX_SERVICES + 4))
    s = m.learn_one(s, 30 * US_PER_DAY, service="svc-0")  # a new use of a forgotten one is: day 4 goes
    assert sorted(d for _, d in s.services) == [*range(5, MAX_SERVICES + 4), 30]
