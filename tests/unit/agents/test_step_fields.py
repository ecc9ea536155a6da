"""Every accepted field reaches the state, the rule expressions and the customer document
(issue 18 §4): discounts, channels, categories, weighted use, services, complaint severity,
custom profile attributes. Expected values are worked out by hand from the events."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from segstream.agents.step import apply_events, positioned
from segstream.models.rules import parse_rules
from segstream.scoring.document import customer_document
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.kinds import BY_SCHEMA
from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400_000_000

RULES = """
dimensions:
  price_sensitivity:
    - segment: bargain_hunter
      when: discount_share >= 0.5 and purchases >= 3
    - segment: full_price
      when: purchases >= 3
  channel_loyalty:
    - segment: partner_loyal
      when: channel == "partner" and channel_share > 0.5
  account:
    - segment: vip
      when: attrs["tier"] == "gold" and attrs["seats"] >= 10
    - segment: unknown_tier
      when: attrs["tier"] == None
  adoption:
    - segment: broad
      when: services_30d >= 2 and usage_minutes_rate > 0.2 and usage_units_rate > 0.05
  service_recovery:
    - segment: severe_open
      when: open_complaints > 0 and complaint_severity >= 4
"""


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def buy(cid: str, n: int, day: float, amount: float, **kw: object) -> Purchase:
    return Purchase(event_id=f"{cid}-p{n}", customer_id=cid, ts=at(day), amount=amount, **kw)  # type: ignore[arg-type]


def events() -> list:
    evs: list = []
    # "b": four orders, three of them on a coupon, all through a partner; two categories
    for n, (coupon, discount) in enumerate([("C1", 5.0), ("C2", 0.0), (None, 0.0), ("C3", 2.5)]):
        evs.append(buy("b", n, n, 20.0, coupon=coupon, discount=discount, channel="partner", category="toys"))
    evs.append(buy("b", 9, 4, 40.0, channel="online", category="books"))
    # "f": three full-price orders naming nothing but the amount
    evs += [buy("f", n, n, 30.0) for n in range(3)]
    # "u": two services on day 4, quantities of 3 and a 10-minute session
    evs.append(Usage(event_id="u-0", customer_id="u", ts=at(4), action="open", service="billing", quantity=3))
    evs.append(Usage(event_id="u-1", customer_id="u", ts=at(4.5), action="run", service="reports", duration_s=600))
    # "c": a severe open complaint and a profile with custom attributes
    evs.append(Feedback(event_id="c-0", customer_id="c", ts=at(1), kind="complaint", score=5, text="broken"))
    evs.append(Profile(event_id="c-1", customer_id="c", ts=at(2), attributes={"tier": "gold", "seats": 25.0}))
    return evs


def run() -> tuple[dict[str, Loaded], Models, list]:
    models = Models(rules=parse_rules(RULES))
    loaded = {c: Loaded(0, CustomerState()) for c in "bfuc"}
    batch = [positioned(e, f"{BY_SCHEMA[type(e)].code}0", i) for i, e in enumerate(events())]
    r = apply_events(loaded, batch, 0, models)
    assert not r.failed
    return loaded, models, r.outputs


def test_the_new_features_decide_rule_segments() -> None:
    loaded, _, _ = run()
    seg = {c: loaded[c].state.segments for c in "bfuc"}
    assert seg["b"]["price_sensitivity"] == "bargain_hunter"  # 3 of 5 orders on a coupon
    assert seg["b"]["channel_loyalty"] == "partner_loyal"  # 4 of 5 through a partner
    assert seg["f"]["price_sensitivity"] == "full_price" and "channel_loyalty" not in seg["f"]
    assert seg["c"]["account"] == "vip"
    assert "account" not in seg["b"]  # b sent no profile: the dimension reads the profile only
    assert seg["u"]["adoption"] == "broad"
    assert seg["c"]["service_recovery"] == "severe_open"


def test_the_customer_document_shows_the_new_features() -> None:
    loaded, models, _ = run()
    now = int((at(5) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    b = customer_document("b", loaded["b"].state, now, models, "en")["purchases"]
    # 5 orders, 3 on a coupon (2 with an amount off: 5.00 + 2.50); paid 20 x 4 + 40 = 120.00
    assert b["discount_share"] == pytest.approx(3 / 5)
    assert b["discount_spend_share"] == pytest.approx(60 / 120)
    assert b["discount_depth"] == pytest.approx(7.5 / 127.5)
    assert (b["channel"], b["channel_share"], b["categories"], b["top_category"]) == ("partner", 0.8, 2, "toys")
    u = customer_document("u", loaded["u"].state, now, models, "en")["usage"]
    tau_days = 28 / math.log(2)  # the long half-life, 28 days
    # a history of one day (its first event at day 4): the decayed sums over the share of a
    # steady rate's sum that one day holds, 1 - exp(-1 / tau): about 4 units in the one day
    held = tau_days * -math.expm1(-1 / tau_days)
    assert u["units_per_day"] == pytest.approx((3 * math.exp(-1 / tau_days) + 1 * math.exp(-0.5 / tau_days)) / held)
    assert u["minutes_per_day"] == pytest.approx(10 * math.exp(-0.5 / tau_days) / held)
    assert u["services_30d"] == 2
    c = customer_document("c", loaded["c"].state, now, models, "en")
    assert c["satisfaction"]["complaint_severity"] == 5.0
    assert c["profile"]["attributes"] == {"tier": "gold", "seats": 25.0}


def test_a_profile_event_past_the_custom_attribute_limit_is_a_failed_event_for_that_customer_only() -> None:
    models = Models()
    loaded = {c: Loaded(0, CustomerState()) for c in ("x", "y")}
    full = {f"a{i}": float(i) for i in range(16)}
    batch = [
        positioned(Profile(event_id="x0", customer_id="x", ts=at(0), attributes=full), "r0", 0),
        positioned(Profile(event_id="x1", customer_id="x", ts=at(1), attributes={"b": 1.0}), "r0", 1),
        positioned(Profile(event_id="y0", customer_id="y", ts=at(1), attributes={"b": 1.0}), "r1", 0),
    ]
    r = apply_events(loaded, batch, 0, models)
    [(p, why)] = r.failed
    assert p.event.event_id == "x1" and "more than 16" in why
    assert loaded["x"].state.profile.custom == full and loaded["y"].state.profile.custom == {"b": 1.0}


def test_a_dimension_reading_only_services_is_re_evaluated_by_the_usage_event_that_adds_one() -> None:
    rules = "dimensions:\n  adoption:\n    - segment: broad\n      when: services_30d >= 2\n"
    models = Models(rules=parse_rules(rules))
    loaded = {"u": Loaded(0, CustomerState())}
    first = Usage(event_id="u0", customer_id="u", ts=at(0), action="open", service="billing")
    apply_events(loaded, [positioned(first, "u0", 0)], 0, models)
    assert "adoption" not in loaded["u"].state.segments
    second = Usage(event_id="u1", customer_id="u", ts=at(1), action="open", service="reports")
    r = apply_events(loaded, [positioned(second, "u0", 1)], 0, models)
    assert ("adoption", None, "broad") in r.items[0].changes


def test_playbook_expressions_read_the_new_features_and_custom_attributes() -> None:
    """An at-risk bargain hunter gets the coupon action, a gold account the account manager;
    names the rules know are the playbook's too."""
    from segstream.agents.outlook import playbook_names
    from segstream.models.playbook import parse_playbook
    from segstream.scoring.churn import Risk

    playbook = parse_playbook(
        "actions:\n"
        "  - action: account_manager\n"
        '    when: attrs["tier"] == "gold" and open_complaints > 0\n'
        "  - action: coupon\n"
        '    when: discount_share >= 0.5 and channel == "partner"\n'
        "  - action: catch_all\n"
        "    when: True\n"
    )
    loaded, models, _ = run()
    now = int((at(5) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    risk = Risk(0.8, {"purchase_lapse": 1.0})

    def action(cid: str) -> str | None:
        hit = playbook.action_for(playbook_names(loaded[cid].state, now, risk, None, models))
        return hit.code if hit else None

    assert (action("b"), action("c"), action("f")) == ("coupon", "account_manager", "catch_all")
