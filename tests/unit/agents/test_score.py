"""Scoring one customer in every dimension: changes, reasons, features and the next due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

from segstream.agents.score import Scored, Trigger, rule_names, score_customer
from segstream.models.decay import US_PER_DAY
from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary, RFMSnapshot
from segstream.models.rules import RuleSet, parse_rules
from segstream.models.usage import UsageModel
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.streams.codec import to_us
from segstream.streams.schemas import SegmentChange

T0 = datetime(2024, 1, 1, tzinfo=UTC)
D = US_PER_DAY


def at(day: float) -> int:
    return to_us(T0) + int(day * D)


def customer(*purchases: tuple[float, int], **profile: Any) -> CustomerState:
    """A customer with purchases ``(day, cents)`` and profile attributes written on day 0."""
    st = CustomerState()
    times = [at(day) for day, _ in purchases]
    if purchases:
        summary = PurchaseSummary()
        for day, cents in purchases:
            summary = summary.add(at(day), cents)
        st.purchases = summary
    if profile:
        st.profile = ProfileState(updated_us=at(0), **profile)
        times.append(at(0))
    st.first_us, st.last_us = min(times), max(times)
    return st


def score(st: CustomerState, day: float, models: Models | None = None, trigger_id: str = "", **kw: Any) -> Scored:
    trigger = Trigger(trigger_id or f"sweep-{at(day)}", at(day))
    return score_customer("c1", st, at(day), trigger, models or Models(), **kw)


def by_dimension(scored: Scored) -> dict[str, SegmentChange]:
    return {c.dimension: c for c in scored.outputs}


def snapshot(customers: int) -> RFMSnapshot:
    """A population every customer of these tests tops: R, F and M all 5 by quintiles."""
    return RFMSnapshot(1, customers, [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0)


def default_rules_text() -> str:
    return files("segstream").joinpath("rules/default.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    [line] = [i for i, s in enumerate(text.splitlines(), start=1) if needle in s]
    return line


# ------------------------------------------------------------------ changes and their content


def test_first_purchase_emits_one_change_per_dimension_with_reason_and_features() -> None:
    st = customer((0, 1999))
    scored = score(st, 0, trigger_id="p0-7")
    assert scored.changes == [("rfm", None, "new"), ("lifecycle", None, "new")]
    assert scored.outputs == [
        SegmentChange(
            event_id="p0-7-rfm",
            customer_id="c1",
            dimension="rfm",
            from_segment=None,
            to_segment="new",
            to_name="New",
            ts=T0,
            reason="R=5 F=1 M=1: last purchase 0 days ago, 1 purchase(s), 19.99 USD in total",
            features={"recency_days": 0.0, "frequency": 1, "monetary": 19.99, "r": 5, "f": 1, "m": 1},
        ),
        SegmentChange(
            event_id="p0-7-lifecycle",
            customer_id="c1",
            dimension="lifecycle",
            from_segment=None,
            to_segment="new",
            to_name="New",
            ts=T0,
            reason="New: no purchase or use for 0 days",
            features={"days_since_activity": 0.0, "tenure_days": 0.0},
        ),
    ]
    assert st.segments == {"rfm": "new", "lifecycle": "new"}


def test_change_is_stamped_with_the_trigger_time_not_the_scoring_time() -> None:
    trigger = Trigger("p1-3", at(2))
    scored = score_customer("c1", customer((0, 100)), at(5), trigger, Models())
    assert {c.ts for c in scored.outputs} == {T0 + timedelta(days=2)}
    assert {c.event_id for c in scored.outputs} == {"p1-3-rfm", "p1-3-lifecycle"}


def test_scoring_again_without_any_change_emits_nothing() -> None:
    st = customer((0, 1999))
    score(st, 0, trigger_id="p0-7")
    again = score(st, 3, trigger_id="p0-8")
    assert again.changes == [] and again.outputs == []
    assert st.segments == {"rfm": "new", "lifecycle": "new"}
    assert again.due_us == at(10)  # scored on day 3: re-scored a week later


def test_only_the_dimension_that_changed_is_emitted() -> None:
    st = customer((0, 1999))
    pure = Models(rfm_bands=False, rfm_margin=0, rfm_margin_days=0)  # R as the fixed thresholds give it
    score(st, 0, pure)
    day31 = by_dimension(score(st, 31, pure))
    assert (day31["rfm"].from_segment, day31["rfm"].to_segment) == ("new", "promising")
    assert day31["rfm"].reason == "R=4 F=1 M=1: last purchase 31 days ago, 1 purchase(s), 19.99 USD in total"
    assert (day31["lifecycle"].from_segment, day31["lifecycle"].to_segment) == ("new", "active")
    # day 46: still "promising" (R=4 up to 60 days), but 46 silent days are "at risk"
    scored = score(st, 46, pure, trigger_id="sweep-46")
    assert scored.changes == [("lifecycle", "active", "at_risk")]
    [change] = scored.outputs
    assert (change.event_id, change.to_name) == ("sweep-46-lifecycle", "At risk")
    assert change.reason == "At risk: no purchase or use for 46 days"
    assert change.features == {"days_since_activity": 46.0, "tenure_days": 46.0}


def test_rfm_is_named_within_the_recency_band_of_the_lifecycle_thresholds() -> None:
    # fixed thresholds give R=4 up to 60 days, R=3 up to 120, R=2 up to 240; the lifecycle
    # says at risk from 45 silent days and churned from 90 (docs/SEGMENTS.md)
    st = customer((0, 1999))
    score(st, 0)
    assert by_dimension(score(st, 38))["rfm"].to_segment == "promising"  # R=4 past the margin, in the recent band
    day46 = by_dimension(score(st, 46, trigger_id="sweep-46"))
    assert (day46["rfm"].from_segment, day46["rfm"].to_segment) == ("promising", "hibernating")  # R=4 named as 2
    assert day46["rfm"].reason.endswith("in total; named as R=2, the band of its recency (docs/SEGMENTS.md)")
    assert day46["rfm"].features["r"] == 4 and day46["rfm"].features["r_named"] == 2
    assert st.rfm_score == 411  # the score itself is not changed
    day95 = by_dimension(score(st, 95))
    assert (day95["rfm"].to_segment, day95["lifecycle"].to_segment) == ("lost", "churned")  # R=3 named as 1


def test_a_recent_buyer_is_never_named_lost_by_a_low_quintile() -> None:
    # a young population: four fifths bought on days 26..29, so a purchase 20 days ago is
    # the bottom recency quintile (R=1), F=1 and M=1 (edges above 1 purchase and 19.99)
    cuts = [at(d) // US_PER_DAY for d in (29, 28, 27, 26)]
    snap = RFMSnapshot(1, 100, cuts, [1, 1, 1, 1], [5000] * 4, cuts[2], 1.0, 5000.0)
    pure = Models(rfm_snapshot=snap, rfm_bands=False)
    assert by_dimension(score(customer((10, 1999)), 30, pure))["rfm"].to_segment == "lost"
    change = by_dimension(score(customer((10, 1999)), 30, Models(rfm_snapshot=snap)))["rfm"]
    assert (change.to_segment, change.features["r"], change.features["r_named"]) == ("about_to_sleep", 1, 3)


def test_a_segment_is_kept_while_the_edges_moved_within_their_margins_would_still_give_it() -> None:
    # R by fixed thresholds drops to 4 after 30 days: with 7 days of margin "new" holds to day 37
    st = customer((0, 1999))
    score(st, 0)
    assert score(st, 31).changes == [("lifecycle", "new", "active")]
    assert score(st, 36.9).changes == []
    assert by_dimension(score(st, 37.5))["rfm"].to_segment == "promising"
    # quintile spend edges jitter: 50.50 is above the third edge (50.00), then below it (51.00)
    cuts = [at(d) // US_PER_DAY for d in (29, 28, 27, 26)]
    before = RFMSnapshot(1, 100, cuts, [1, 2, 3, 5], [1000, 2000, 5000, 9000], cuts[2], 3.0, 4000.0)
    after = RFMSnapshot(2, 101, cuts, [1, 2, 3, 5], [1000, 2000, 5100, 9000], cuts[2], 3.0, 4000.0)
    for margin, expected in ((0.1, "champions"), (0.0, "loyal")):
        st = customer((27, 1700), (28, 1700), (29, 1650))  # F=3, M=4: (3+4+1)//2 = 4 with R=5
        assert score(st, 30, Models(rfm_snapshot=before, rfm_margin=margin)).changes[0] == ("rfm", None, "champions")
        score(st, 30, Models(rfm_snapshot=after, rfm_margin=margin))
        assert st.segments["rfm"] == expected  # M=3 by the new edge: loyal, unless within the margin
        assert st.rfm_score == 533  # the scores are the new edges' either way


def test_the_sweep_comes_back_when_a_purchase_enters_its_next_recency_band() -> None:
    st = customer((0, 1999))
    st.usage = None
    # a week of rescore would pass day 45: the band edge comes first
    assert score(st, 40).due_us == at(45)
    assert score(st, 88, Models(rescore_days=30)).due_us == at(90)


def test_features_are_rounded_to_thousandths_of_a_day() -> None:
    st = customer((0, 250), (1, 750))
    change = by_dimension(score(st, 1 + 1 / 3))["rfm"]
    assert change.features == {"recency_days": 0.333, "frequency": 2, "monetary": 10.0, "r": 5, "f": 2, "m": 1}


def test_chinese_language_gives_chinese_names_and_reasons() -> None:
    changes = by_dimension(score(customer((0, 1999)), 0, language="zh-CN", currency="CNY"))
    assert changes["rfm"].to_name == "新客户"
    assert changes["rfm"].reason == "R=5 F=1 M=1：最近一次购买在 0 天前，共 1 次购买，累计 19.99 CNY"
    assert changes["lifecycle"].to_name == "新客户"
    assert changes["lifecycle"].reason == "新客户：已 0 天没有购买或使用"


def test_churned_customer_who_buys_again_is_reactivated_and_remembers_the_comeback() -> None:
    st = customer((0, 1999))
    score(st, 0)
    score(st, 100)
    assert st.segments["lifecycle"] == "churned"
    assert st.purchases is not None
    st.purchases = st.purchases.add(at(200), 500)
    scored = score(st, 200)
    assert ("lifecycle", "churned", "reactivated") in scored.changes
    assert st.reactivated_us == at(200)
    assert by_dimension(scored)["lifecycle"].to_name == "Reactivated"


def test_usage_alone_gives_a_lifecycle_stage_but_no_rfm_segment() -> None:
    st = CustomerState(first_us=at(0), last_us=at(0), usage=UsageModel().learn_one(None, at(0), feature="search"))
    scored = score(st, 40)
    assert scored.changes == [("lifecycle", None, "active")]
    assert scored.due_us == at(45)  # at risk after 45 silent days, before the weekly re-score


# ------------------------------------------------------------------ due time


def test_due_is_the_weekly_rescore_when_it_comes_before_the_lifecycle_change() -> None:
    assert score(customer((0, 1999)), 0).due_us == at(7)


def test_due_is_the_end_of_new_when_it_comes_before_the_rescore() -> None:
    assert score(customer((0, 1999)), 0, Models(rescore_days=60)).due_us == at(30)


def test_due_is_the_at_risk_time_of_an_active_customer() -> None:
    assert score(customer((0, 1999), (20, 100)), 31, Models(rescore_days=60)).due_us == at(65)


def test_due_is_the_churn_time_of_an_at_risk_customer() -> None:
    assert score(customer((0, 1999)), 50, Models(rescore_days=60)).due_us == at(90)


def test_due_of_a_churned_customer_is_the_rescore_interval() -> None:
    assert score(customer((0, 1999)), 100, Models(rescore_days=60)).due_us == at(160)
    assert score(customer((0, 1999)), 100, Models(rescore_days=0.5)).due_us == at(100.5)


def test_due_of_a_customer_without_activity_is_the_rescore_interval() -> None:
    scored = score(customer(industry="retail"), 3)
    assert scored.changes == [] and scored.due_us == at(10)


# ------------------------------------------------------------------ rfm schemes and scoring


def test_cn8_scheme_without_a_snapshot_gives_no_rfm_segment() -> None:
    st = customer((0, 1999))
    scored = score(st, 0, Models(rfm_scheme="cn8"))
    assert scored.changes == [("lifecycle", None, "new")]
    assert "rfm" not in st.segments


def test_cn8_scheme_with_a_snapshot_below_min_population_gives_no_rfm_segment() -> None:
    scored = score(customer((0, 1999)), 0, Models(rfm_scheme="cn8", rfm_snapshot=snapshot(19)))
    assert [d for d, _, _ in scored.changes] == ["lifecycle"]


def test_cn8_scheme_with_a_snapshot_scores_against_the_population_means() -> None:
    models = Models(rfm_scheme="cn8", rfm_snapshot=snapshot(20))
    change = by_dimension(score(customer((0, 1999)), 0, models, language="zh-CN"))["rfm"]
    assert (change.to_segment, change.to_name) == ("important_value", "重要价值客户")
    assert (change.features["r"], change.features["f"], change.features["m"]) == (1, 1, 1)


def test_quintile_scoring_falls_back_to_fixed_thresholds_below_min_population() -> None:
    # fixed thresholds: one purchase of 19.99 today is R=5 F=1 M=1, "new"
    # the snapshot's population is below this customer everywhere: R=F=M=5, "champions"
    def rfm(models: Models) -> str:
        return by_dimension(score(customer((0, 1999)), 0, models))["rfm"].to_segment

    assert rfm(Models(rfm_snapshot=None)) == "new"
    assert rfm(Models(rfm_snapshot=snapshot(19))) == "new"
    assert rfm(Models(rfm_snapshot=snapshot(20))) == "champions"
    assert rfm(Models(rfm_snapshot=snapshot(5), min_population=5)) == "champions"
    assert rfm(Models(rfm_snapshot=snapshot(1000), rfm_scoring="fixed")) == "new"


# ------------------------------------------------------------------ rule dimensions


def test_rule_dimensions_appear_with_labels_reasons_and_the_rules_numeric_features() -> None:
    text = default_rules_text()
    models = Models(rules=parse_rules(text))
    st = customer((0, 1999), industry="制造业", company_size="sme", city_tier=1, partner=True)
    scored = score(st, 0, models, trigger_id="p0-7", language="zh-CN")
    assert [c.dimension for c in scored.outputs] == [
        "rfm",
        "lifecycle",
        "industry",
        "company_size",
        "market_tier",
        "relationship",
    ]
    changes = by_dimension(scored)
    assert {d: (changes[d].to_segment, changes[d].to_name) for d in list(changes)[2:]} == {
        "industry": ("manufacturing", "制造业"),
        "company_size": ("sme", "中小企业"),
        "market_tier": ("tier1", "一线城市"),
        "relationship": ("strategic_partner", "战略合作伙伴"),
    }
    relationship = changes["relationship"]
    expression = "partner == True or (contract == True and purchases >= 10)"
    assert relationship.event_id == "p0-7-relationship"
    assert relationship.reason == f"第 {line_of(text, expression)} 行规则：{expression}"  # zh-CN, like the names
    assert relationship.features == {"partner": 1.0, "purchases": 1.0}  # contract is missing: left out
    assert changes["market_tier"].features == {"city_tier": 1.0}
    assert changes["industry"].features == {}  # a text attribute is not a feature
    assert st.segments["industry"] == "manufacturing"


def test_rule_labels_are_in_english_by_default() -> None:
    models = Models(rules=parse_rules(default_rules_text()))
    changes = by_dimension(score(customer((0, 1999), industry="retail"), 0, models))
    assert (changes["industry"].to_segment, changes["industry"].to_name) == ("retail", "Retail")
    assert changes["relationship"].to_name == "One-off buyer"
    assert "company_size" not in changes and "market_tier" not in changes


def rules(*lines: str) -> RuleSet:
    return parse_rules("\n".join(lines) + "\n")


def engagement_rules() -> RuleSet:
    return rules(
        "dimensions:",
        "  engagement:",
        "    - segment: engaged",
        "      label: {en: Engaged}",
        "      when: lifecycle in ('new', 'active') and spend >= 10",
    )


def test_rules_see_the_segments_scored_in_the_same_call() -> None:
    st = customer((0, 1999))
    changes = by_dimension(score(st, 0, Models(rules=engagement_rules())))
    assert changes["engagement"].to_segment == "engaged"
    assert changes["engagement"].features == {"spend": 19.99}


def test_a_customer_leaving_every_rule_segment_gets_a_change_to_no_segment() -> None:
    models = Models(rules=engagement_rules())
    st = customer((0, 1999))
    score(st, 0, models)
    score(st, 31, models)
    scored = score(st, 46, models, trigger_id="sweep-46", changed=frozenset())  # at risk: no longer engaged
    assert ("engagement", "engaged", None) in scored.changes
    change = by_dimension(scored)["engagement"]
    assert (change.event_id, change.from_segment, change.to_segment, change.to_name) == (
        "sweep-46-engagement",
        "engaged",
        "",
        "",
    )
    assert change.reason == "no rule matches any more" and change.features == {}
    assert "engagement" not in st.segments


def test_rules_are_not_evaluated_when_neither_their_inputs_nor_any_segment_changed() -> None:
    models = Models(rules=parse_rules(default_rules_text()))
    st = customer((0, 1999))
    score(st, 0, models)
    st.profile = ProfileState(updated_us=at(1), city_tier=2)
    assert score(st, 1, models, changed=frozenset({"usage"})).outputs == []
    assert score(st, 1, models, changed=frozenset({"profile"})).changes == [("market_tier", None, "tier2")]


def test_the_sweep_re_evaluates_every_rule_dimension() -> None:
    models = Models(rules=parse_rules(default_rules_text()))
    st = customer((0, 1999))
    st.profile = ProfileState(updated_us=at(1), city_tier=1, company_size="sme")
    changes = score(st, 1, models, changed=None).changes
    assert ("market_tier", None, "tier1") in changes and ("company_size", None, "sme") in changes


def test_a_cluster_the_model_no_longer_has_is_named_retired_not_shown_as_a_raw_id() -> None:
    from segstream.models.clusters import ClusterSnapshot
    from segstream.scoring.models import segment_name

    models = Models()
    assert segment_name("cluster", "c2", models, "en") == "cluster c2"  # no model loaded yet
    models.cluster_snapshot = ClusterSnapshot(
        version=3, ids=[0, 5], centers=[[0.0] * 6, [1.0] * 6], mean=[0.0] * 6, std=[1.0] * 6,
        descriptions={"en": ["light users", "heavy users"], "zh-CN": ["轻度用户", "重度用户"]}, next_id=6, learned=10,
    )  # fmt: skip
    assert segment_name("cluster", "c5", models, "en") == "heavy users"
    assert segment_name("cluster", "c2", models, "en") == "retired cluster c2"
    assert segment_name("cluster", "c2", models, "zh-CN") == "已停用的簇 c2"


def test_rules_see_a_new_customers_usage_trend_corrected_for_its_short_history() -> None:
    """Daily use on days 0-13 of a customer who arrived on day 0, read on day 13: the trend
    by hand is 1.009 (tests/unit/models/test_usage.py), not the 2.66 of rates that take
    the two weeks for a whole horizon."""
    u = None
    for day in range(14):
        u = UsageModel().learn_one(u, at(day))
    st = CustomerState(first_us=at(0), last_us=at(13), usage=u)
    names = rule_names(st, at(13), Models())
    assert abs(names["usage_trend"] - 1.009) < 0.002 and abs(names["usage_rate"] - 1.088) < 0.002
