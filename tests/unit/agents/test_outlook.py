"""Value outlook and churn risk of a scored batch: tiers, risk levels, churn events, due times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pytest

from segstream.agents.outlook import NEAR_ENTRY, assess, batch_values
from segstream.agents.score import Scored, Trigger
from segstream.models.bgnbd import BGNBDParams
from segstream.models.churn import DRIVERS
from segstream.models.decay import US_PER_DAY
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.paretonbd import ParetoNBDParams
from segstream.models.paretonbd import p_no_purchase as pareto_no_purchase
from segstream.models.playbook import load_playbook
from segstream.models.rfm import PurchaseSummary
from segstream.models.value import ValueModel, ValueSnapshot
from segstream.scoring.models import DEFAULT_PLAYBOOK, Models
from segstream.state.customer import CustomerState, Outlook
from segstream.streams.codec import to_us
from segstream.streams.schemas import ChurnRisk
from tests.unit.models import closed_forms as cf

T0 = datetime(2024, 1, 1, tzinfo=UTC)
D = US_PER_DAY
WEEKLY = [(day, 3000) for day in range(0, 140, 7)]  # 20 weekly purchases of 30.00, days 0..133
Feedback = tuple[float, str, float | None]


def at(day: float) -> int:
    return to_us(T0) + int(day * D)


def snapshot(tier_edges: list[float] | None = None) -> ValueSnapshot:
    """Hand-picked parameters (BG/NBD of CDNOW, in weeks) and CLV tier edges 10 | 30 | 100."""
    bg = BGNBDParams(0.243, 4.414, 0.793, 2.426, -9000.0, 2357, True)
    gg = GammaGammaParams(6.25, 3.74, 15.44, -4000.0, 946, True)
    return ValueSnapshot(3, at(0), "", 2357, bg, gg, tier_edges or [10.0, 30.0, 100.0], 10**7)


@pytest.fixture
def models() -> Models:
    return Models(value_snapshot=snapshot(), playbook=load_playbook(DEFAULT_PLAYBOOK))


def customer(models: Models, purchases: list[tuple[float, int]], feedback: Sequence[Feedback] = ()) -> CustomerState:
    """A customer with purchases ``(day, cents)`` and feedback ``(day, kind, score)``."""
    st = CustomerState()
    if purchases:
        summary = PurchaseSummary()
        for day, cents in purchases:
            summary = summary.add(at(day), cents)
        st.purchases = summary
    for day, kind, score in feedback:
        st.feedback = models.satisfaction.learn_one(st.feedback, at(day), kind, score)
    days = [d for d, _ in purchases] + [d for d, _, _ in feedback]
    st.first_us, st.last_us = at(min(days)), at(max(days))
    return st


def unhappy(models: Models) -> CustomerState:
    """A loyal weekly buyer who was a promoter and turned unhappy: detractor, three open complaints."""
    promoter = [(day, "nps", 10.0) for day in range(0, 120, 20)]
    turned = [(128, "nps", 2.0), (129, "csat", 1.0)] + [(d, "complaint", None) for d in (130, 131, 132)]
    return customer(models, WEEKLY, [*promoter, *turned])


def add_feedback(models: Models, st: CustomerState, *feedback: Feedback) -> None:
    for day, kind, score in feedback:
        st.feedback = models.satisfaction.learn_one(st.feedback, at(day), kind, score)
        st.last_us = max(st.last_us, at(day))


def assess_one(st: CustomerState, day: float, models: Models, language: str = "en", due_in_days: float = 7) -> Scored:
    scored = Scored(due_us=at(day + due_in_days))
    assess([("c1", st, at(day), Trigger(f"p0-{int(day)}", at(day)), scored)], models, language, "USD")
    return scored


def value_change_of(scored: Scored) -> tuple[str | None, str]:
    [change] = [c for c in scored.outputs if c.dimension == "value"]
    return change.from_segment, change.to_segment


# ------------------------------------------------------------------ entering high risk


def test_unhappy_customer_entering_high_risk_gets_one_churn_event_with_drivers_and_action(models: Models) -> None:
    st = unhappy(models)
    scored = assess_one(st, 133, models)
    [event] = scored.churn
    assert isinstance(event, ChurnRisk)
    assert (event.event_id, event.customer_id, event.ts, event.level) == (
        "p0-133-churn",
        "c1",
        T0 + timedelta(days=133),
        "high",
    )
    assert event.score >= models.churn.enter
    assert sum(d.weight for d in event.drivers) == pytest.approx(1.0, abs=1e-3)
    assert {d.name for d in event.drivers} == {"complaints", "detractor", "falling_satisfaction", "purchase_lapse"}
    assert [d.weight for d in event.drivers] == sorted((d.weight for d in event.drivers), reverse=True)
    assert event.action == "service_call"  # open complaints and an NPS detractor: the playbook's first action
    assert event.action_name == "Priority service call: resolve the complaint of an unhappy customer"
    assert (event.value_tier, event.segments) == ("top", {"value": "top"})
    assert event.p_alive is not None and 0 < event.p_alive < 1 and event.clv is not None and event.clv > 100


def test_churn_reason_names_the_drivers_by_share(models: Models) -> None:
    [event] = assess_one(unhappy(models), 133, models).churn
    head = f"churn risk {event.score:.2f} (high at 0.70): "
    assert event.reason.startswith(head)
    names = {  # the English names as a reader sees them
        "purchase_lapse": "no purchase expected soon",
        "usage_decline": "usage declining",
        "detractor": "NPS detractor",
        "complaints": "open complaints",
        "falling_satisfaction": "satisfaction falling",
    }
    parts = event.reason[len(head) :].split(", ")
    assert parts == [f"{names[d.name]} {d.weight:.0%}" for d in event.drivers]
    assert "open complaints" in event.reason and "NPS detractor" in event.reason


def test_entering_high_risk_sets_the_outlook(models: Models) -> None:
    st = unhappy(models)
    [event] = assess_one(st, 133, models).churn
    out = st.outlook
    assert out is not None and out.high and out.changed_us == at(133)
    assert out.version == 3 and out.risk_bp == round(event.score * 10_000)
    assert len(out.drivers_bp) == len(DRIVERS) and sum(out.drivers_bp) == pytest.approx(10_000, abs=2)
    shares = dict(zip(DRIVERS, out.drivers_bp, strict=True))
    assert shares["usage_decline"] == 0 and shares["complaints"] > shares["purchase_lapse"] > 0


def test_customer_crossing_from_normal_into_high_risk_counts_the_level_move(models: Models) -> None:
    st = customer(models, [(0, 5000)])
    first = assess_one(st, 1, models)
    assert first.churn == [] and ("churn_risk", None, "normal") in first.changes
    add_feedback(models, st, (2, "nps", 3.0), (2, "complaint", None), (2, "complaint", None))
    crossing = assess_one(st, 2, models)
    [event] = crossing.churn
    assert event.level == "high" and event.action == "service_call"
    assert ("churn_risk", "normal", "high") in crossing.changes


def test_reassessing_a_high_risk_customer_gives_no_new_event(models: Models) -> None:
    st = unhappy(models)
    assess_one(st, 133, models)
    again = assess_one(st, 133, models)
    assert again.churn == [] and not [c for c in again.changes if c[0] == "churn_risk"]
    assert st.outlook is not None and st.outlook.high and st.outlook.changed_us == at(133)


def test_customer_between_leave_and_enter_stays_high_without_an_event(models: Models) -> None:
    st = unhappy(models)
    assess_one(st, 133, models)
    add_feedback(models, st, *[(134, "complaint_resolved", None)] * 3)  # still a detractor, still falling
    scored = assess_one(st, 134, models)
    assert st.outlook is not None
    assert models.churn.leave <= st.outlook.risk_bp / 10_000 < models.churn.enter
    assert st.outlook.high and scored.churn == []


# ------------------------------------------------------------------ leaving high risk


def test_customer_whose_risk_falls_below_leave_gets_a_normal_event_without_action(models: Models) -> None:
    st = unhappy(models)
    assess_one(st, 133, models)
    add_feedback(models, st, *[(134, "complaint_resolved", None)] * 3, (135, "nps", 10.0))
    scored = assess_one(st, 135, models)
    [event] = scored.churn
    assert event.level == "normal" and event.score < models.churn.leave
    assert (event.action, event.action_name) == (None, None)
    assert event.reason.startswith(f"churn risk down to {event.score:.2f} (below 0.50)")
    assert ("churn_risk", "high", "normal") in scored.changes
    assert st.outlook is not None and not st.outlook.high and st.outlook.changed_us == at(135)


# ------------------------------------------------------------------ value tier and level counts


def test_first_assessment_puts_the_customer_in_a_value_tier(models: Models) -> None:
    scored = assess_one(customer(models, [(0, 5000)]), 0, models)
    [change] = [c for c in scored.outputs if c.dimension == "value"]
    assert (change.from_segment, change.to_segment, change.to_name) == (None, "high", "High value")
    assert change.event_id == "p0-0-value" and change.ts == T0
    clv = change.features["clv"]
    assert 30 < clv <= 100
    assert change.reason == f"High value: expected {clv:.2f} USD over the next 12 months (discounted)"
    assert set(change.features) == {"clv", "p_alive", "expected_purchases"}


def test_value_tier_change_becomes_a_value_segment_change(models: Models) -> None:
    st = customer(models, [(0, 5000)])
    assess_one(st, 0, models)
    later = assess_one(st, 60, models)  # silent two months: lower expected purchases, lower CLV
    assert value_change_of(later) == ("high", "medium")
    assert ("value", "high", "medium") in later.changes and st.segments["value"] == "medium"


def test_a_value_tier_moves_down_on_a_use_only_when_the_setting_says_so(models: Models) -> None:
    # the customer of the test above: one purchase of 50.00 on day 0, "high"; two silent
    # months later its CLV puts it in "medium", but the re-score is for a use, not a purchase
    st = customer(models, [(0, 5000)])
    assess_one(st, 0, models)

    def on_use(day: float) -> Scored:
        scored = Scored(due_us=at(day + 7))
        assess([("c1", st, at(day), Trigger(f"u0-{int(day)}", at(day)), scored)], models, "en", "USD", None, [True])
        return scored

    held = on_use(60)
    assert st.segments["value"] == "high" and not [c for c in held.outputs if c.dimension == "value"]
    assert all(c[0] != "value" for c in held.changes)
    # its outlook is still the day's: CLV and P(alive) as of day 60, only the tier is held
    assert st.outlook is not None and st.outlook.clv_minor < 3000  # the "high" edge is 30.00
    # the sweep (no_purchase None) or a purchase moves it down
    assert value_change_of(assess_one(st, 60, models)) == ("high", "medium")
    # an upgrade on a use is not held: new edges put it in "top"
    models.value_snapshot = snapshot([0.5, 1.0, 2.0])
    assert value_change_of(on_use(61)) == ("medium", "top")
    # with the setting off (SEGSTREAM_VALUE_TIER_DOWN_ON_PURCHASE=false) a use moves it down too
    models.value_snapshot = snapshot()
    models.value_down_on_purchase = False
    assert value_change_of(on_use(62)) == ("top", "medium")


def test_new_tier_edges_move_a_customer_between_tiers(models: Models) -> None:
    st = customer(models, WEEKLY)
    assert value_change_of(assess_one(st, 133, models)) == (None, "top")
    models.value_snapshot = snapshot([1000.0, 2000.0, 3000.0])
    assert value_change_of(assess_one(st, 133, models)) == ("top", "low")


def test_a_customer_who_spent_nothing_is_in_the_bottom_tier_whatever_its_clv(models: Models) -> None:
    # free orders: two purchases of 0.00 a week apart; tier edges collapsed on ties (issue 19)
    models.value_snapshot = snapshot([0.17, 0.17, 163.45])
    free = customer(models, [(0, 0), (7, 0), (14, 0)])
    paying = customer(models, [(0, 100), (7, 100), (14, 100)])
    assert value_change_of(assess_one(free, 14, models)) == (None, "low")
    assert value_change_of(assess_one(paying, 14, models)) in {(None, "high"), (None, "top")}


def test_a_customer_leaves_its_value_tier_only_with_a_clv_past_the_margin() -> None:
    from segstream.agents.outlook import _tiers

    edges, spend = [10.0, 30.0, 100.0], np.array([100, 100, 100, 100])
    clv = np.array([31.0, 29.0, 27.0, 33.5])
    # without a tier so far, or without a margin: the plain edges
    assert _tiers(clv, edges, spend) == ["high", "medium", "medium", "high"]
    # in "high" / "medium" with a margin of 10% of the edge (30 -> 27..33): 29 stays high,
    # 27 is exactly at 30 * 0.9 (not past it) and leaves; 33.5 is past 33 and moves up
    previous = ["medium", "high", "high", "medium"]
    assert _tiers(clv, edges, spend, previous, margin=0.1) == ["medium", "high", "medium", "high"]
    assert _tiers(clv, edges, spend, previous, margin=0.0) == ["high", "medium", "medium", "high"]


def test_unchanged_tier_is_not_reported_again(models: Models) -> None:
    st = customer(models, WEEKLY)
    assess_one(st, 133, models)
    assert [c for c in assess_one(st, 134, models).outputs if c.dimension == "value"] == []


def test_customer_without_purchases_has_no_value_tier_and_an_empty_outlook(models: Models) -> None:
    st = customer(models, [], [(0, "nps", 9.0)])
    scored = assess_one(st, 0, models)
    assert scored.outputs == [] and "value" not in st.segments
    assert st.outlook == Outlook()
    assert scored.changes == [("churn_risk", None, "normal")]


def test_churn_risk_level_is_counted_once_when_first_scored(models: Models) -> None:
    low = customer(models, WEEKLY)
    first = assess_one(low, 133, models)
    assert [c for c in first.changes if c[0] == "churn_risk"] == [("churn_risk", None, "normal")]
    assert [c for c in assess_one(low, 134, models).changes if c[0] == "churn_risk"] == []
    high = assess_one(unhappy(models), 133, models)
    assert [c for c in high.changes if c[0] == "churn_risk"] == [("churn_risk", None, "high")]


# ------------------------------------------------------------------ due time


def test_customer_near_the_entry_threshold_is_due_again_in_a_day(models: Models) -> None:
    st = customer(models, [(0, 5000)])  # a new one-time buyer: P(no purchase in 90 days) ~ 0.72
    scored = assess_one(st, 0, models)
    assert st.outlook is not None and not st.outlook.high
    assert models.churn.enter - NEAR_ENTRY <= st.outlook.risk_bp / 10_000 < models.churn.enter
    assert scored.due_us == at(1)


def test_earlier_due_time_of_a_customer_near_entry_is_kept(models: Models) -> None:
    scored = assess_one(customer(models, [(0, 5000)]), 0, models, due_in_days=0.5)
    assert scored.due_us == at(0.5)


def test_low_risk_and_high_risk_customers_keep_their_due_time(models: Models) -> None:
    assert assess_one(customer(models, WEEKLY), 133, models).due_us == at(140)
    assert assess_one(unhappy(models), 133, models).due_us == at(140)


# ------------------------------------------------------------------ batch values and language


def test_batch_values_scores_only_customers_with_purchases_in_one_call(models: Models) -> None:
    buyers = [customer(models, [(0, 5000)]), customer(models, WEEKLY)]
    silent = customer(models, [], [(0, "nps", 9.0)])
    batch = [
        (cid, st, at(133), Trigger("t", at(133)), Scored())
        for cid, st in (("a", buyers[0]), ("n", silent), ("b", buyers[1]))
    ]
    models.value = ValueModel(one_time_dropout=True)  # SEGSTREAM_CHURN_ONE_TIME_DROPOUT (off by default)
    by_default = batch_values(batch, models)
    models.value = ValueModel(one_time_dropout=False)  # BG/NBD's P(no purchase) for the one-time buyer too
    values = batch_values(batch, models)
    assert set(values) == set(by_default) == {0, 2}
    # repeat histories at day 133, in weeks: a one-off buyer (x = 0, T = 133 / 7 = 19) and the
    # weekly buyer (x = 19 repeat purchases, t_x = T = 19, m_x = 30.00); the papers' closed forms
    bg, gg, h = (0.243, 4.414, 0.793, 2.426), (6.25, 3.74, 15.44), 90 / 7
    for pos, (x, t_x, T, m_x) in ((0, (0, 0.0, 19.0, 0.0)), (2, (19, 19.0, 19.0, 30.0))):
        alive = cf.p_alive(*bg, x, t_x, T)
        silent = ((bg[1] + T) / (bg[1] + T + h)) ** (bg[0] + x)
        spend = cf.expected_spend(*gg, x, m_x)
        expected = (alive, cf.expected_purchases(*bg, h, x, t_x, T), 1 - alive + alive * silent, spend)
        assert values[pos] == pytest.approx((*expected, cf.clv(bg, spend, x, t_x, T)), rel=1e-9)
    # with the option the one-time buyer's survival is scaled by (1 + a/b) / (1 + a/b ((α+T) / α)^r)
    odds = bg[2] / bg[3]
    survival = (1 + odds) / (1 + odds * ((bg[1] + 19.0) / bg[1]) ** bg[0])
    silent = ((bg[1] + 19.0) / (bg[1] + 19.0 + h)) ** bg[0]
    assert by_default[0][2] == pytest.approx(1 - survival * (1 - silent), rel=1e-9)
    assert by_default[0][:2] + by_default[0][3:] == values[0][:2] + values[0][3:] and by_default[2] == values[2]


def test_batch_values_takes_pareto_nbds_lapse_for_a_buyer_who_never_used_the_product(models: Models) -> None:
    """The "auto" lapse model: two one-time buyers of day 0 scored 272 days (38.857
    weeks) later over 13 weeks, one of them a product user. The other's P(no purchase) is
    Pareto/NBD's at the published CDNOW parameters (the function checked against lifetimes
    in tests/unit/models/test_paretonbd.py; 0.96691 at 38.86 weeks there); the user's stays
    BG/NBD's closed form."""
    pn = ParetoNBDParams(0.55, 10.58, 0.61, 11.67, -1.0, 2357, True)
    models.value_snapshot = msgspec.structs.replace(snapshot(), paretonbd=pn)
    models.value = ValueModel(horizon_days=91, lapse_model="auto")
    now, T = 272, 272 / 7
    buyer, user = customer(models, [(0, 5000)]), customer(models, [(0, 5000)])
    user.usage = models.usage.learn_one(None, at(now - 2))
    batch = [(cid, st, at(now), Trigger("t", at(now)), Scored()) for cid, st in (("b", buyer), ("u", user))]
    values = batch_values(batch, models)
    assert values[0][2] == pytest.approx(float(pareto_no_purchase(pn, 13.0, 0, 0.0, T)), rel=1e-12)
    assert values[0][2] == pytest.approx(0.96691, abs=1e-4)
    bg, h = (0.243, 4.414, 0.793, 2.426), 13.0
    alive = cf.p_alive(*bg, 0, 0.0, T)
    assert values[1][2] == pytest.approx(1 - alive + alive * ((bg[1] + T) / (bg[1] + T + h)) ** bg[0], rel=1e-6)
    assert values[0][:2] + values[0][3:] == pytest.approx(values[1][:2] + values[1][3:])  # P(alive), CLV: BG/NBD's
    # told otherwise, the states are not read
    assert batch_values(batch, models, [True, True])[0][2] == pytest.approx(values[1][2])
    assert batch_values(batch, models, [False, False])[1][2] == pytest.approx(values[0][2])


def test_batch_values_is_empty_without_fitted_purchase_models(models: Models) -> None:
    batch = [("a", customer(models, [(0, 5000)]), at(1), Trigger("t", at(1)), Scored())]
    assert batch_values(batch, Models()) == {}
    unfitted = ValueSnapshot(1, 0, "", 10, None, None, [], 0, "no parameters yet")
    assert batch_values(batch, Models(value_snapshot=unfitted)) == {}


def test_chinese_language_gives_chinese_churn_reason_action_and_tier(models: Models) -> None:
    st = unhappy(models)
    scored = assess_one(st, 133, models, language="zh-CN")
    [event] = scored.churn
    assert event.reason.startswith(f"流失风险 {event.score:.2f}（≥ 0.70 为高）：")
    for name in ("有未结投诉", "NPS 贬损者", "满意度下降", "近期预计不会再购买"):
        assert name in event.reason
    assert "churn" not in event.reason
    assert event.action_name == "优先客服回访：处理不满客户的投诉"
    [change] = [c for c in scored.outputs if c.dimension == "value"]
    assert change.to_name == "顶级价值" and "未来 12 个月预计贡献" in change.reason
