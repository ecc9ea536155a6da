"""The simulator's opt-in coupon hunters (issue 18 §4): off by default, the seeded streams
are byte for byte what they were; on, they buy like loyal customers but mostly with a
coupon, and the purchase mix's discount share says so. Expected values come from pandas
over the raw events, or from the persona's definition, never from the code under test."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile

import msgspec
import pandas as pd
import pytest

from segstream.feeders.simulator import COUPONS, Simulator
from segstream.models.mix import PurchaseMix, PurchaseMixModel
from segstream.streams.schemas import Purchase

T0 = datetime(2024, 1, 1, tzinfo=UTC)

# sha256 (first 16 hex digits) of the first 20,000 events (type name + JSON), and of the
# population's repr, taken before the persona existed (commit 0a68a5e)
GOLDEN = {
    (3000, 5, 0.0, 30.0): ("0c07e5f9ec692c74", "a65cc33680d70515"),
    (500, 42, 0.3, 30.0): ("8620266adccddc7f", "b620cae5e4b2c94c"),
    (2000, 11, 0.0, 365.0): ("1e3063e04351e1c0", "21b2e0f39f189384"),
}


def stream_hash(sim: Simulator, n: int = 20_000) -> str:
    enc = msgspec.json.Encoder()
    h = hashlib.sha256()
    for e in islice(sim.events(), n):
        h.update(type(e).__name__.encode())
        h.update(enc.encode(e))
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("customers", "seed", "comeback", "signup_days"), list(GOLDEN))
def test_off_by_default_the_population_and_the_events_are_as_before(
    customers: int, seed: int, comeback: float, signup_days: float
) -> None:
    events, population = GOLDEN[customers, seed, comeback, signup_days]
    for sim in (
        Simulator(customers, T0, seed, signup_days=signup_days, comeback_share=comeback),
        Simulator(customers, T0, seed, signup_days=signup_days, comeback_share=comeback, coupon_hunters=False),
    ):
        assert hashlib.sha256(repr(sim.population).encode()).hexdigest()[:16] == population
        assert stream_hash(sim) == events
        assert "coupon_hunter" not in {c.persona for c in sim.population}


@pytest.fixture(scope="module")
def events() -> list[Purchase]:
    sim = Simulator(1500, T0, seed=3, coupon_hunters=True)
    PERSONA.update((c.customer_id, c.persona) for c in sim.population)
    return list(takewhile(lambda e: e.ts < T0 + timedelta(days=240), sim.purchases()))


PERSONA: dict[str, str] = {}


@pytest.fixture(scope="module")
def purchases(events: list[Purchase]) -> pd.DataFrame:
    fields = ("customer_id", "amount", "discount", "coupon", "channel", "category")
    df = pd.DataFrame([{f: getattr(e, f) for f in fields} for e in events])
    return df.assign(persona=df["customer_id"].map(PERSONA))


def test_coupon_hunters_are_a_share_of_the_population_when_asked_for() -> None:
    sim = Simulator(4000, T0, seed=8, coupon_hunters=True)
    share = sum(c.persona == "coupon_hunter" for c in sim.population) / 4000
    # 0.15 of shares summing to 1.15: 13.0 %, binomial sd 0.53 points
    assert 0.115 <= share <= 0.145


def test_coupon_hunters_buy_mostly_with_a_coupon_and_the_others_never_do(purchases: pd.DataFrame) -> None:
    df = purchases.assign(discounted=(purchases["discount"] > 0) | purchases["coupon"].notna())
    hunters = df[df["persona"] == "coupon_hunter"]
    assert len(hunters) >= 2500
    # the persona says 85 % discounted, every discounted order with a coupon: binomial sd < 0.7 points
    assert hunters["discounted"].mean() == pytest.approx(0.85, abs=0.025)
    assert (hunters["coupon"].notna() == hunters["discounted"]).all()
    assert set(hunters["coupon"].dropna()) <= set(COUPONS)
    assert df.loc[df["persona"] != "coupon_hunter", "coupon"].isna().all()
    loyal = df[df["persona"] == "loyal"]
    assert loyal["discounted"].mean() == pytest.approx(0.15, abs=0.025)


def test_coupons_are_realistic_discounts_in_major_units(purchases: pd.DataFrame) -> None:
    coupons = purchases[purchases["coupon"].notna()]
    assert (coupons["discount"] > 0).all()
    assert (coupons["discount"] < coupons["amount"]).all()  # amount is what was paid, after the discount
    depth = coupons["discount"] / (coupons["amount"] + coupons["discount"])  # of the list price
    assert depth.min() >= 0.10 - 0.001 and depth.max() <= 0.30 + 0.001  # cents rounded
    assert depth.mean() == pytest.approx(0.20, abs=0.01)
    assert (coupons["discount"].round(2) == coupons["discount"]).all()


def test_coupon_hunters_pay_and_buy_like_loyal_customers(purchases: pd.DataFrame) -> None:
    by = purchases.groupby("persona")
    orders = by["customer_id"].count() / by["customer_id"].nunique()
    aov = by["amount"].mean()
    # log-normal(log 60, 0.4): mean 60 e^0.08 = 65.0 for both
    assert aov["coupon_hunter"] == pytest.approx(65.0, rel=0.04)
    assert aov["loyal"] == pytest.approx(65.0, rel=0.04)
    assert orders["coupon_hunter"] == pytest.approx(orders["loyal"], rel=0.1)
    channels = purchases[purchases["persona"] == "coupon_hunter"]["channel"].value_counts(normalize=True)
    assert set(channels.index) == {"online", "offline"}


def test_the_purchase_mix_sees_the_coupon_hunters(events: list[Purchase], purchases: pd.DataFrame) -> None:
    model = PurchaseMixModel()
    states: dict[str, PurchaseMix | None] = {}
    for e in events:  # as the worker learns it (agents/step.py)
        states[e.customer_id] = model.learn_one(
            states.get(e.customer_id),
            round(e.amount * 100),
            discount_minor=round(e.discount * 100),
            coupon=e.coupon,
            channel=e.channel,
            category=e.category,
        )
    per = purchases.assign(
        discounted=(purchases["discount"] > 0) | purchases["coupon"].notna(),
        minor=(purchases["amount"] * 100).round().astype(int),
    ).groupby("customer_id")
    expected = per["discounted"].mean()  # pandas: share of each customer's orders discounted
    orders, spend = per["minor"].count(), per["minor"].sum()
    persona = per["persona"].first()
    shares: dict[str, float] = {}
    for c in orders.index:
        share = model.predict_one(states[c], int(orders[c]), int(spend[c])).discount_share
        assert share is not None  # every customer here has orders
        shares[c] = share
    assert shares == pytest.approx(expected.to_dict())
    enough = orders[orders >= 20].index
    hunters = [c for c in enough if persona[c] == "coupon_hunter"]
    others = [c for c in enough if persona[c] in ("loyal", "champion", "occasional", "churner")]
    assert len(hunters) >= 100 and len(others) >= 300
    # 20 orders at 85 %: P(share < 0.7) = 5 %; the median hunter is well above
    assert sum(shares[c] >= 0.7 for c in hunters) / len(hunters) >= 0.9
    assert pd.Series([shares[c] for c in hunters]).median() >= 0.8
    assert max(shares[c] for c in others) < 0.6  # 5-20 % of their orders
