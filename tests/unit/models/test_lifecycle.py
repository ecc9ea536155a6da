"""Lifecycle stages in event time: every transition with its hand-computed due time."""

from __future__ import annotations

import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.lifecycle import LifecycleModel, Stage

D = US_PER_DAY


def model(**over: float) -> LifecycleModel:
    """The default model: new 30 days, at risk after 45 silent days, churned after 90, reactivated 30."""
    params = {"new_days": 30, "at_risk_days": 45, "churn_days": 90, "reactivated_days": 30} | over
    return LifecycleModel(**params)


def test_first_activity_is_new_until_new_days_have_passed() -> None:
    assert model().predict_one(first_us=0, last_us=0, now_us=10 * D, previous=None) == Stage("new", 30 * D, 0)


def test_new_stage_is_due_at_at_risk_when_that_comes_before_the_end_of_new() -> None:
    # new for 60 days, but silent for 45 is at risk first: due at day 45
    assert model(new_days=60).predict_one(0, 0, 10 * D, None) == Stage("new", 45 * D, 0)


def test_new_becomes_active_once_new_days_are_over() -> None:
    m = model()
    assert m.predict_one(0, 20 * D, 30 * D - 1, "new") == Stage("new", 30 * D, 0)
    assert m.predict_one(0, 20 * D, 30 * D, "new") == Stage("active", 65 * D, 0)


def test_active_becomes_at_risk_after_at_risk_days_of_silence_due_to_churn_at_churn_days() -> None:
    m = model()
    assert m.predict_one(0, 40 * D, 85 * D - 1, "active") == Stage("active", 85 * D, 0)
    assert m.predict_one(0, 40 * D, 85 * D, "active") == Stage("at_risk", 130 * D, 0)


def test_at_risk_becomes_churned_after_churn_days_of_silence_and_is_never_due_again() -> None:
    m = model()
    assert m.predict_one(0, 40 * D, 130 * D - 1, "at_risk") == Stage("at_risk", 130 * D, 0)
    assert m.predict_one(0, 40 * D, 130 * D, "at_risk") == Stage("churned", None, 0)
    assert m.predict_one(0, 40 * D, 1000 * D, "churned") == Stage("churned", None, 0)


def test_churned_customer_who_comes_back_is_reactivated_from_the_comeback() -> None:
    # came back on day 200: reactivated for 30 days (due day 230, before at risk on day 245)
    assert model().predict_one(0, 200 * D, 200 * D, "churned") == Stage("reactivated", 230 * D, 200 * D)


def test_reactivated_is_due_at_at_risk_when_that_comes_first() -> None:
    m = model(reactivated_days=60)  # reactivated until day 260, but at risk on day 245
    assert m.predict_one(0, 200 * D, 200 * D, "churned") == Stage("reactivated", 245 * D, 200 * D)


def test_reactivated_stays_reactivated_with_more_activity_inside_the_window() -> None:
    # a second purchase on day 210 does not move the comeback time
    m = model()
    assert m.predict_one(0, 210 * D, 229 * D, "reactivated", reactivated_us=200 * D) == Stage(
        "reactivated", 230 * D, 200 * D
    )


def test_reactivated_becomes_active_after_reactivated_days_and_forgets_the_comeback() -> None:
    m = model()
    assert m.predict_one(0, 210 * D, 230 * D - 1, "reactivated", 200 * D).stage == "reactivated"
    assert m.predict_one(0, 210 * D, 230 * D, "reactivated", 200 * D) == Stage("active", 255 * D, 0)


def test_reactivated_customer_going_silent_keeps_its_comeback_time_while_at_risk() -> None:
    m = model(reactivated_days=60)
    assert m.predict_one(0, 200 * D, 245 * D, "reactivated", 200 * D) == Stage("at_risk", 290 * D, 200 * D)


def test_at_risk_customer_with_new_activity_is_active_again() -> None:
    m = model()
    assert m.predict_one(0, 40 * D, 100 * D, "active") == Stage("at_risk", 130 * D, 0)
    assert m.predict_one(0, 100 * D, 100 * D, "at_risk") == Stage("active", 145 * D, 0)


def test_fractional_days_are_converted_to_whole_microseconds() -> None:
    m = model(new_days=0.5, at_risk_days=1.5, churn_days=2.25)
    assert m.predict_one(0, 0, 0, None) == Stage("new", D // 2, 0)
    assert m.predict_one(0, 0, D, "new") == Stage("active", 3 * D // 2, 0)
    assert m.predict_one(0, 0, 2 * D, "active") == Stage("at_risk", 9 * D // 4, 0)


@pytest.mark.parametrize(
    ("at_risk_days", "churn_days"),
    [(0, 90), (-1, 90), (90, 90), (100, 90), (45, 0)],
)
def test_constructor_rejects_at_risk_not_strictly_between_zero_and_churn(
    at_risk_days: float, churn_days: float
) -> None:
    with pytest.raises(ValueError, match=r"0 < at_risk_days < churn_days"):
        LifecycleModel(at_risk_days=at_risk_days, churn_days=churn_days)


def test_constructor_keeps_its_parameters() -> None:
    m = LifecycleModel(new_days=7, at_risk_days=14, churn_days=28, reactivated_days=3)
    assert (m.new_days, m.at_risk_days, m.churn_days, m.reactivated_days) == (7, 14, 28, 3)
