"""The purchase mix: discount sensitivity, preferred channel, category breadth (hand-computed)."""

from __future__ import annotations

import pandas as pd
import pytest

from segstream.models.mix import CHANNELS, TOP_CATEGORIES, PurchaseMix, PurchaseMixModel

M = PurchaseMixModel()


def learn(orders: list[dict]) -> PurchaseMix | None:
    s = None
    for o in orders:
        o = dict(o)
        s = M.learn_one(s, o.pop("amount_minor"), **o)
    return s


def test_shares_of_orders_and_spend_on_discount_and_the_depth_match_pandas() -> None:
    orders = [
        {"amount_minor": 8000, "discount_minor": 2000},  # 20.00 off a list price of 100.00
        {"amount_minor": 5000, "coupon": "WELCOME"},  # a coupon without an amount off still counts
        {"amount_minor": 12000},
        {"amount_minor": 1000},
        {"amount_minor": 4000, "discount_minor": 500, "coupon": "X"},
    ]
    f = M.predict_one(learn(orders), orders=5, spend_minor=30000)
    df = pd.DataFrame(orders).fillna({"discount_minor": 0})
    on_discount = (df["discount_minor"] > 0) | df["coupon"].notna()
    assert f.discount_share == pytest.approx(on_discount.mean())  # 3/5
    assert f.discount_spend_share == pytest.approx(df.loc[on_discount, "amount_minor"].sum() / 30000)  # 17000/30000
    assert f.discount_depth == pytest.approx(2500 / 32500)  # discounts over list prices (paid + discounts)


def test_shares_are_over_all_purchases_so_undiscounted_ones_without_a_mix_count() -> None:
    s = M.learn_one(None, 1000, coupon="C")  # one discounted order among four
    f = M.predict_one(s, orders=4, spend_minor=10000)
    assert (f.discount_share, f.discount_spend_share) == (0.25, 0.1)


def test_a_purchase_naming_nothing_keeps_no_state_and_a_customer_without_one_has_no_shares() -> None:
    assert M.learn_one(None, 999) is None
    f = M.predict_one(None, orders=0, spend_minor=0)
    assert f == (None, None, None, None, None, 0, None)
    assert M.predict_one(None, orders=2, spend_minor=500)[:3] == (0.0, 0.0, 0.0)


def test_preferred_channel_and_its_share_ties_going_to_the_first_channel_of_the_list() -> None:
    s = learn([{"amount_minor": 1, "channel": c} for c in ("partner", "online", "partner", "sales_rep")])
    f = M.predict_one(s, orders=6, spend_minor=6)  # two orders named no channel
    assert (f.channel, f.channel_share) == ("partner", 0.5)
    tie = learn([{"amount_minor": 1, "channel": c} for c in ("sales_rep", "offline")])
    assert M.predict_one(tie, 2, 2).channel == "offline"  # offline comes before sales_rep in CHANNELS
    assert CHANNELS.index("offline") < CHANNELS.index("sales_rep")


def test_category_breadth_counts_distinct_names_and_the_top_is_the_most_bought() -> None:
    cats = ["shoes", "bags", "shoes", "鞋", "hats", "shoes", "bags"]
    f = M.predict_one(learn([{"amount_minor": 1, "category": c} for c in cats]), 7, 7)
    assert f.categories == 4
    assert f.top_category == "shoes"


def test_the_top_category_survives_a_flood_of_one_off_categories_in_bounded_state() -> None:
    # space-saving: a category bought in more than 1/TOP_CATEGORIES of the orders stays on top
    orders = []
    for i in range(300):
        orders.append({"amount_minor": 1, "category": "coffee" if i % 2 == 0 else f"one-off-{i}"})
    s = learn(orders)
    assert s is not None and len(s.top) == TOP_CATEGORIES
    assert M.predict_one(s, 300, 300).top_category == "coffee"
    assert M.predict_one(s, 300, 300).categories <= 64  # breadth saturates at the bitmap's 64 bits


def test_learning_does_not_change_the_state_it_was_given() -> None:
    s = learn([{"amount_minor": 1, "channel": "online", "category": "a"}])
    assert s is not None
    M.learn_one(s, 5, channel="online", category="b", discount_minor=1)
    assert (s.channels, s.top, s.discounted) == ([1, 0, 0, 0], [("a", 1)], 0)
