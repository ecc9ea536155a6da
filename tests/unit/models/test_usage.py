from __future__ import annotations

import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.usage import UsageModel


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
