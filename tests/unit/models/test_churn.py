"""Churn risk: each driver, the noisy-OR score and its attribution, and the hysteresis."""

from __future__ import annotations

import math

import pytest

from segstream.models.churn import DEFAULT_WEIGHTS, DRIVERS, ChurnModel, parse_weights
from segstream.models.decay import US_PER_DAY
from segstream.models.satisfaction import SatisfactionFeatures, SatisfactionModel
from segstream.models.usage import UsageFeatures, UsageModel

D = US_PER_DAY


def usage(event_days: range | list[int], now_day: float) -> UsageFeatures:
    """Usage features of a customer with one event on each of ``event_days``, as of ``now_day``."""
    model = UsageModel()
    state = None
    for day in event_days:
        state = model.learn_one(state, day * D)
    return model.predict_one(state, int(now_day * D))


def satisfaction(
    nps_class: str | None = None, open_complaints: int = 0, trend: float | None = None
) -> SatisfactionFeatures:
    return SatisfactionFeatures(
        level=0.5 if trend is not None else None,
        trend=trend,
        nps_class=nps_class,
        open_complaints=open_complaints,
        days_since_complaint=1.0 if open_complaints else None,
    )


def drivers(
    p_no_purchase: float | None = None,
    usage: UsageFeatures | None = None,
    satisfaction: SatisfactionFeatures | None = None,
    model: ChurnModel | None = None,
) -> dict[str, float]:
    return (model or ChurnModel()).drivers(p_no_purchase=p_no_purchase, usage=usage, satisfaction=satisfaction)


# ------------------------------------------------------------------ purchase_lapse


@pytest.mark.parametrize(("p", "expected"), [(0.0, 0.0), (0.37, 0.37), (1.0, 1.0), (-0.2, 0.0), (1.3, 1.0)])
def test_purchase_lapse_is_p_no_purchase_clipped_to_the_unit_interval(p: float, expected: float) -> None:
    assert drivers(p_no_purchase=p) == {"purchase_lapse": expected}


@pytest.mark.parametrize("p", [None, math.nan, math.inf])
def test_purchase_lapse_is_absent_without_a_finite_p_no_purchase(p: float | None) -> None:
    assert drivers(p_no_purchase=p) == {}


def test_purchase_lapse_of_a_customer_who_keeps_using_the_product_counts_as_far_as_its_silence_is_unusual() -> None:
    daily = usage(range(0, 60), now_day=60)  # used every day, last yesterday
    assert drivers(p_no_purchase=0.95, usage=daily)["purchase_lapse"] == pytest.approx(
        0.95 * max(min(1.0, daily.rate_long * 1.0 / (2 * math.log(10))), 1 / 30)
    )
    assert drivers(p_no_purchase=0.95, usage=daily)["purchase_lapse"] < 0.5
    silent = usage(range(0, 60), now_day=90)  # the same user, silent for 31 days: fully unusual
    assert drivers(p_no_purchase=0.95, usage=silent)["purchase_lapse"] == 0.95
    once = usage([0], now_day=20)  # one use 20 days ago: its rate is no yardstick, 20 of 30 days count
    assert drivers(p_no_purchase=0.9, usage=once)["purchase_lapse"] == pytest.approx(
        0.9 * max(min(1.0, once.rate_long * 20 / (2 * math.log(10))), 20 / 30)
    )
    assert drivers(p_no_purchase=0.9, usage=usage([0], now_day=45))["purchase_lapse"] == 0.9
    # without usage data, or with the rule off, the lapse is P(no purchase) as it is
    assert drivers(p_no_purchase=0.95)["purchase_lapse"] == 0.95
    off = ChurnModel(lapse_needs_silence=False)
    assert drivers(p_no_purchase=0.95, usage=daily, model=off)["purchase_lapse"] == 0.95


# ------------------------------------------------------------------ usage_decline


def test_usage_decline_is_zero_for_steady_daily_use() -> None:
    assert drivers(usage=usage(range(120), 119)) == {"usage_decline": 0.0}


def test_usage_decline_grows_with_silence_for_a_frequent_user() -> None:
    declines = [drivers(usage=usage(range(120), 119 + silent))["usage_decline"] for silent in (0, 2, 7, 14, 28)]
    assert declines == sorted(declines) and len(set(declines)) == len(declines)
    assert declines[0] == 0.0 and declines[-1] > 0.8


@pytest.mark.parametrize("silent", [7, 14, 28])
def test_usage_decline_stays_small_for_a_rare_user_silent_as_long_as_a_frequent_one(silent: int) -> None:
    frequent = drivers(usage=usage(range(120), 119 + silent))["usage_decline"]  # daily
    rare = drivers(usage=usage(range(0, 121, 30), 120 + silent))["usage_decline"]  # monthly
    assert rare < 0.4 and rare < frequent / 2


def test_usage_decline_is_absent_without_usage_events() -> None:
    assert drivers(usage=UsageModel().predict_one(None, 10 * D)) == {}


# ------------------------------------------------------------------ satisfaction drivers


@pytest.mark.parametrize(("nps_class", "expected"), [("detractor", 1.0), ("passive", 0.0), ("promoter", 0.0)])
def test_detractor_is_one_only_for_a_detractor_nps_answer(nps_class: str, expected: float) -> None:
    assert drivers(satisfaction=satisfaction(nps_class=nps_class)) == {"detractor": expected}


def test_detractor_is_absent_without_an_nps_answer() -> None:
    assert "detractor" not in drivers(satisfaction=satisfaction(open_complaints=1))


@pytest.mark.parametrize(("n", "expected"), [(1, 0.5), (2, 0.75), (3, 0.875), (10, 1 - 0.5**10)])
def test_complaints_driver_is_one_minus_half_to_the_open_complaints(n: int, expected: float) -> None:
    assert drivers(satisfaction=satisfaction(open_complaints=n))["complaints"] == pytest.approx(expected)


def test_complaints_driver_is_absent_without_open_complaints() -> None:
    assert drivers(satisfaction=satisfaction(nps_class="passive")) == {"detractor": 0.0}


@pytest.mark.parametrize(("trend", "expected"), [(0.1, 0.0), (0.0, 0.0), (-0.1, 0.4), (-0.25, 1.0), (-0.6, 1.0)])
def test_falling_satisfaction_is_four_times_the_fall_clipped(trend: float, expected: float) -> None:
    got = drivers(satisfaction=satisfaction(trend=trend))["falling_satisfaction"]
    assert got == pytest.approx(expected)


def test_falling_satisfaction_follows_a_learned_satisfaction_trend() -> None:
    model = SatisfactionModel()
    happy = model.learn_one(None, 0, "nps", 10)
    happy = model.learn_one(happy, 60 * D, "csat", 5)
    unhappy = model.learn_one(happy, 100 * D, "csat", 1)
    assert drivers(satisfaction=model.predict_one(happy, 60 * D))["falling_satisfaction"] == 0.0
    sat = model.predict_one(unhappy, 100 * D)
    assert sat.trend is not None and sat.trend < 0
    assert drivers(satisfaction=sat)["falling_satisfaction"] == pytest.approx(min(1.0, -4 * sat.trend))


# ------------------------------------------------------------------ noisy-OR score and shares


def test_noisy_or_of_two_drivers_matches_the_hand_computation() -> None:
    risk = ChurnModel().predict_one({"purchase_lapse": 0.6, "complaints": 0.75})
    # weights 0.9 and 0.5: w*d = 0.54 and 0.375; score = 1 - (1 - 0.54)(1 - 0.375) = 1 - 0.46 * 0.625 = 0.7125
    assert risk.score == pytest.approx(0.7125)
    # hazards -ln(0.46) = 0.776529 and -ln(0.625) = 0.470004; shares are their fractions of 1.246532
    expected = {"purchase_lapse": 0.776529 / 1.246532, "complaints": 0.470004 / 1.246532}
    assert risk.shares == pytest.approx(expected, rel=1e-5)
    assert list(risk.shares) == ["purchase_lapse", "complaints"]


def test_shares_sum_to_one_and_are_in_descending_order() -> None:
    risk = ChurnModel().predict_one(
        {"purchase_lapse": 0.2, "usage_decline": 0.9, "detractor": 1.0, "complaints": 0.5, "falling_satisfaction": 0.3}
    )
    assert sum(risk.shares.values()) == pytest.approx(1.0)
    assert list(risk.shares.values()) == sorted(risk.shares.values(), reverse=True)
    assert next(iter(risk.shares)) == "usage_decline"


def test_a_zero_weight_drops_its_driver() -> None:
    model = ChurnModel(weights={"detractor": 0.0})
    risk = model.predict_one({"detractor": 1.0, "complaints": 0.5})
    assert list(risk.shares) == ["complaints"]
    assert risk.score == pytest.approx(0.25)  # only 0.5 * 0.5


def test_a_driver_at_zero_gets_no_share() -> None:
    risk = ChurnModel().predict_one({"detractor": 0.0, "complaints": 0.5})
    assert list(risk.shares) == ["complaints"]


def test_no_drivers_give_score_zero_and_no_shares() -> None:
    assert ChurnModel().predict_one({}) == (0.0, {})
    assert ChurnModel().predict_one({"detractor": 0.0, "usage_decline": 0.0}) == (0.0, {})


def test_score_stays_in_the_unit_interval_with_every_driver_and_weight_at_one() -> None:
    model = ChurnModel(weights=dict.fromkeys(DRIVERS, 1.0))
    risk = model.predict_one(dict.fromkeys(DRIVERS, 1.0))
    assert 0.0 <= risk.score <= 1.0 and risk.score == pytest.approx(1.0)
    assert all(math.isfinite(v) for v in risk.shares.values())
    assert sum(risk.shares.values()) == pytest.approx(1.0)


def test_a_single_strong_driver_alone_makes_the_score_its_weighted_value() -> None:
    risk = ChurnModel().predict_one({"usage_decline": 1.0})
    assert risk.score == pytest.approx(DEFAULT_WEIGHTS["usage_decline"])
    assert risk.shares == {"usage_decline": 1.0}


# ------------------------------------------------------------------ hysteresis


def test_customer_enters_high_risk_at_the_entry_threshold() -> None:
    model = ChurnModel(enter=0.7, leave=0.5)
    assert model.level(0.7, was_high=False) is True
    assert model.level(0.6999, was_high=False) is False


def test_customer_stays_high_between_leave_and_enter() -> None:
    model = ChurnModel(enter=0.7, leave=0.5)
    assert model.level(0.69, was_high=True) is True
    assert model.level(0.5, was_high=True) is True


def test_customer_leaves_high_risk_only_below_leave() -> None:
    model = ChurnModel(enter=0.7, leave=0.5)
    assert model.level(0.4999, was_high=True) is False


def test_scores_oscillating_around_the_entry_threshold_enter_once() -> None:
    model = ChurnModel(enter=0.7, leave=0.5)
    scores = [0.6, 0.69, 0.71, 0.68, 0.72, 0.65, 0.7, 0.69, 0.71, 0.55, 0.73]
    high, entered, left = False, 0, 0
    for score in scores:
        now = model.level(score, was_high=high)
        entered += now and not high
        left += high and not now
        high = now
    assert (entered, left, high) == (1, 0, True)


# ------------------------------------------------------------------ construction and parsing


@pytest.mark.parametrize(("enter", "leave"), [(0.5, 0.5), (0.5, 0.6), (0.7, 0.0), (1.2, 0.5)])
def test_model_rejects_thresholds_without_leave_below_enter_in_the_unit_interval(enter: float, leave: float) -> None:
    with pytest.raises(ValueError, match="leave < enter"):
        ChurnModel(enter=enter, leave=leave)


@pytest.mark.parametrize("w", [-0.1, 1.5])
def test_model_rejects_a_weight_outside_the_unit_interval(w: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ChurnModel(weights={"complaints": w})


def test_model_rejects_an_unknown_driver() -> None:
    with pytest.raises(ValueError, match="unknown churn driver"):
        ChurnModel(weights={"bad_mood": 0.5})


def test_parse_weights_overrides_named_drivers_and_keeps_the_defaults_of_the_others() -> None:
    weights = parse_weights(" purchase_lapse = 0.3 , complaints=1,")
    assert weights == {**DEFAULT_WEIGHTS, "purchase_lapse": 0.3, "complaints": 1.0}


def test_parse_weights_of_an_empty_text_is_the_defaults() -> None:
    assert parse_weights("") == DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("complaints", "driver=weight"),
        ("mood=0.5", "driver=weight"),
        ("complaints=high", "not a number"),
        ("complaints=1.5", r"must be in \[0, 1\]"),
        ("detractor=-0.1", r"must be in \[0, 1\]"),
    ],
)
def test_parse_weights_rejects_malformed_entries(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_weights(text)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(None, 1 - 0.5**2), (3.0, 1 - 0.5**2), (5.0, 1 - 0.5 ** (2 * 5 / 3)), (1.0, 1 - 0.5 ** (2 / 3))],
)
def test_the_complaints_driver_weighs_open_complaints_by_severity(severity: float | None, expected: float) -> None:
    sat = SatisfactionFeatures(None, None, None, 2, 1.0, severity)
    assert ChurnModel().drivers(p_no_purchase=None, usage=None, satisfaction=sat)["complaints"] == pytest.approx(
        expected, rel=1e-12
    )
