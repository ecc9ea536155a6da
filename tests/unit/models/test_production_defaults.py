"""The production defaults of the models that no setting overrides (src/segstream/config.py
sets the lifecycle's new/at-risk/churn days, the re-score interval and the value horizon,
CLV months, discount and minimum; these are used as they are). Each test says what the
value decides, and checks it through the model's behaviour, not its attribute."""

from __future__ import annotations

import math

from segstream.models.decay import US_PER_DAY
from segstream.models.lifecycle import LifecycleModel
from segstream.models.satisfaction import SatisfactionModel
from segstream.models.usage import UsageModel
from segstream.models.value import ValueModel
from segstream.scoring.models import Models
from segstream.state.customer import RECENT_IDS, CustomerState

D = US_PER_DAY


def test_a_comeback_is_reactivated_for_30_days_then_active() -> None:
    # reactivated_days = 30: how long a churned customer who came back is told apart
    # (the "reactivated" segment, and its win-back playbook) before counting as active
    m = LifecycleModel()
    came_back = 200 * D
    s = m.predict_one(0, came_back, came_back, "churned")
    assert (s.stage, s.reactivated_us, s.due_us) == ("reactivated", came_back, came_back + 30 * D)
    assert m.predict_one(0, 228 * D, 229 * D, "reactivated", came_back).stage == "reactivated"
    assert m.predict_one(0, 228 * D, 230 * D, "reactivated", came_back).stage == "active"


def test_lifecycle_defaults_new_30_at_risk_45_churned_90_days() -> None:
    # the same numbers as config.py's lifecycle_* defaults (Models() without settings)
    m = LifecycleModel()
    stages = [m.predict_one(0, 0, d * D, None).stage for d in (29, 30, 44, 45, 89, 90)]
    assert stages == ["new", "active", "active", "at_risk", "at_risk", "churned"]


def test_usage_rates_halve_in_7_and_28_days() -> None:
    # short/long half-lives 7 and 28 days: the usage trend (short / long rate) compares the
    # last week with the last month, and the churn driver reads it
    m = UsageModel()
    s = m.learn_one(None, 0, feature="search")
    f0, f7, f28 = (m.predict_one(s, d * D) for d in (0, 7, 28))
    assert math.isclose(f7.rate_short / f0.rate_short, 0.5) and math.isclose(f28.rate_long / f0.rate_long, 0.5)
    # one event just now: rate = 1 / tau = ln 2 / half-life per day
    assert math.isclose(f0.rate_short, math.log(2) / 7) and math.isclose(f0.rate_long, math.log(2) / 28)
    assert m.predict_one(s, 7 * D).days_since_last == 7.0


def test_satisfaction_means_halve_their_weights_in_30_and_180_days() -> None:
    # an old score weighs half after 30 days in the short mean, after 180 in the long one:
    # NPS 0 (0.0) at day 0 and NPS 10 (1.0) at day 30 -> short mean 1 / (0.5 + 1) = 2/3;
    # at day 180 -> long mean 1 / (0.5 + 1) = 2/3 too
    m = SatisfactionModel()
    short = m.learn_one(m.learn_one(None, 0, "nps", 0), 30 * D, "nps", 10)
    long = m.learn_one(m.learn_one(None, 0, "nps", 0), 180 * D, "nps", 10)
    assert math.isclose(m.predict_one(short, 30 * D).trend + m.predict_one(short, 30 * D).level, 2 / 3)
    assert math.isclose(m.predict_one(long, 180 * D).level, 2 / 3)


def test_value_defaults_weeks_90_day_horizon_12_months_at_1_percent_and_tiers_at_50_80_95() -> None:
    # weeks as the BG/NBD unit (the CDNOW fit), and the tier quantiles, are set nowhere else
    m = ValueModel()
    got = (m.unit_days, m.horizon_days, m.clv_months, m.discount_monthly, m.tier_quantiles, m.min_customers)
    assert got == (7.0, 90.0, 12, 0.01, (0.5, 0.8, 0.95), 50)


def test_models_default_to_weekly_rescoring_and_quintiles_from_20_customers() -> None:
    m = Models()
    assert (m.rescore_days, m.min_population, m.rfm_scheme, m.rfm_scoring) == (7.0, 20, "rfm11", "quintiles")


def test_a_customer_remembers_the_last_two_event_ids_per_topic() -> None:
    # a retrying producer writes a duplicate right after the original: two ids per topic catch it
    assert RECENT_IDS == 2
    st = CustomerState()
    for i in range(3):
        st.remember("p", f"e{i}", i)
    assert [st.seen("p", f"e{i}") for i in range(3)] == [False, True, True] and not st.seen("u", "e2")
