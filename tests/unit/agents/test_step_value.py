"""Value outlook through the step: a customer's CLV, P(alive), expected purchases and spend
as scored by rescore with a published value snapshot, against the closed forms of the
papers (tests/unit/models/closed_forms.py, written independently of segstream.models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from segstream.agents.step import apply_events, positioned, rescore
from segstream.models.bgnbd import BGNBDParams
from segstream.models.gammagamma import GammaGammaParams
from segstream.models.value import ValueSnapshot
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.codec import to_us
from segstream.streams.schemas import Purchase, Usage
from tests.unit.models import closed_forms as cf

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BG = (0.243, 4.414, 0.793, 2.426)  # CDNOW (Fader, Hardie & Lee 2005), weeks
GG = (6.25, 3.74, 15.44)  # CDNOW (Fader & Hardie), dollars


def us(day: float) -> int:
    return to_us(T0 + timedelta(days=day))


def snapshot(edges: list[float]) -> ValueSnapshot:
    return ValueSnapshot(
        version=4, as_of_us=0, fitted_at="", customers=100,
        bgnbd=BGNBDParams(*BG, log_likelihood=-1.0, n=100, converged=True),
        gammagamma=GammaGammaParams(*GG, log_likelihood=-1.0, n=100, converged=True),
        tier_edges=edges, revenue_minor=0,
    )  # fmt: skip


def customer() -> Loaded:
    """Purchases of 10, 30 and 50 on days 0, 14 and 28."""
    loaded = {"a": Loaded(0, CustomerState())}
    batch = [
        positioned(Purchase(event_id=f"o{d}", customer_id="a", ts=T0 + timedelta(days=d), amount=amt), "p0", i)
        for i, (d, amt) in enumerate(((0, 10.0), (14, 30.0), (28, 50.0)))
    ]
    apply_events(loaded, batch, 0, Models())
    return Loaded(1, loaded["a"].state)


# As of day 35, in weeks: x = 2 repeat purchases, t_x = 28 / 7 = 4, T = 35 / 7 = 5, and the
# repeat purchases' mean value m_x = (30 + 50) / 2 = 40.
X, T_X, T_AGE, M_X = 2, 4.0, 5.0, 40.0
SPEND = cf.expected_spend(*GG, X, M_X)  # 6.25 (15.44 + 2 * 40) / (6.25 * 2 + 3.74 - 1) = 39.1404
CLV = cf.clv(BG, SPEND, X, T_X, T_AGE)  # 12 months, 1 % a month, weeks: 184.79


def test_clv_and_the_value_outlook_match_the_closed_forms() -> None:
    a = customer()
    rescore({"a": a}, {"a": us(35)}, us(35), Models(value_snapshot=snapshot([50.0, 100.0, 500.0])))
    o = a.state.outlook
    assert o is not None and o.version == 4
    assert round(SPEND, 4) == 39.1404 and round(CLV, 2) == 184.79
    assert o.clv_minor == round(CLV * 100)
    assert o.spend_minor == round(SPEND * 100)
    assert o.p_alive_bp == round(cf.p_alive(*BG, X, T_X, T_AGE) * 10_000)
    # horizon 90 days = 90 / 7 weeks
    assert o.purchases_milli == round(cf.expected_purchases(*BG, 90 / 7, X, T_X, T_AGE) * 1000)


def test_value_tier_follows_the_snapshots_edges_with_its_reason_in_the_currency() -> None:
    a = customer()
    models = Models(value_snapshot=snapshot([50.0, 100.0, 500.0]))
    r = rescore({"a": a}, {"a": us(35)}, us(35), models)
    [change] = [c for c in r.outputs if c.dimension == "value"]
    # 184.79 is above the edges 50 and 100, below 500: the second tier from the top
    assert (change.to_segment, change.to_name) == ("high", "High value")
    assert change.reason == "High value: expected 184.79 USD over the next 12 months (discounted)"
    b = customer()
    r = rescore({"a": b}, {"a": us(35)}, us(35), Models(value_snapshot=snapshot([200.0, 300.0, 400.0])), currency="EUR")
    [change] = [c for c in r.outputs if c.dimension == "value"]
    assert change.to_segment == "low" and "184.79 EUR" in change.reason


def test_apply_events_gives_the_value_reason_in_the_given_currency() -> None:
    models = Models(value_snapshot=snapshot([0.0, 0.0, 0.0]))  # any CLV above 0: top
    for currency in ("USD", "EUR"):
        loaded = {"a": Loaded(0, CustomerState())}
        batch = [
            positioned(Purchase(event_id=f"o{d}", customer_id="a", ts=T0 + timedelta(days=d), amount=20.0), "p0", d)
            for d in (0, 14)
        ]
        kw = {} if currency == "USD" else {"currency": currency}
        r = apply_events(loaded, batch, 0, models, **kw)
        [change] = [c for c in r.outputs if c.dimension == "value"]
        assert change.to_segment == "top" and f" {currency} over the next 12 months" in change.reason


def test_a_use_does_not_move_the_value_tier_down_a_purchase_or_the_sweep_does() -> None:
    # the customer above, "high" on day 35 (CLV 184.79); on day 120, silent since day 28, its
    # CLV is lower: edges put between the two CLVs (each more than the 0.1 margin away)
    clv_120 = cf.clv(BG, SPEND, X, T_X, 120 / 7)
    edge = (CLV * clv_120) ** 0.5
    assert clv_120 < 0.9 * edge and 1.1 * edge < CLV
    models = Models(value_snapshot=snapshot([1.0, edge, 10_000.0]))
    a = customer()
    rescore({"a": a}, {"a": us(35)}, us(35), models)
    assert a.state.segments["value"] == "high"
    use = Usage(event_id="u1", customer_id="a", ts=T0 + timedelta(days=120), action="login")
    r = apply_events({"a": a}, [positioned(use, "u0", 0)], us(120), models)
    assert a.state.segments["value"] == "high" and not [c for c in r.outputs if c.dimension == "value"]
    assert a.state.outlook is not None and a.state.outlook.clv_minor < 100 * 0.9 * edge  # scored, tier held
    # the due-time sweep of the same moment moves it down
    r = rescore({"a": a}, {"a": us(120)}, us(120), models)
    assert [(c.from_segment, c.to_segment) for c in r.outputs if c.dimension == "value"] == [("high", "medium")]
    # with the setting off (SEGSTREAM_VALUE_TIER_DOWN_ON_PURCHASE=false) a use moves it down
    b = customer()
    models.value_down_on_purchase = False
    rescore({"a": b}, {"a": us(35)}, us(35), models)
    r = apply_events({"a": b}, [positioned(use, "u0", 0)], us(120), models)
    assert [(c.from_segment, c.to_segment) for c in r.outputs if c.dimension == "value"] == [("high", "medium")]
