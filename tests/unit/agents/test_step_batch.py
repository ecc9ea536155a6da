"""apply_events and rescore over a batch: every customer and every event of the batch is
processed (a skipped, duplicate or vanished one does not end the loop), the per-topic
counters, the RFM histogram moves, the time a customer is scored at, and the clock.

Days are counted from 2024-01-01 (day 19,723 since the Unix epoch: 1,704,067,200 s / 86,400).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from segstream.agents.step import advance_clock, apply_events, positioned, rescore
from segstream.models.clusters import ClusterSnapshot
from segstream.models.rules import parse_rules
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.codec import to_us
from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400_000_000
EPOCH_DAY_T0 = 19_723


def us(day: float) -> int:
    return to_us(T0 + timedelta(days=day))


def purchase(cid: str, day: float, amount: float, eid: str | None = None) -> Purchase:
    return Purchase(event_id=eid or f"{cid}-{day}", customer_id=cid, ts=T0 + timedelta(days=day), amount=amount)


def use(cid: str, day: float, eid: str) -> Usage:
    return Usage(event_id=eid, customer_id=cid, ts=T0 + timedelta(days=day), action="search")


def fresh(*cids: str) -> dict[str, Loaded]:
    return {c: Loaded(0, CustomerState()) for c in cids}


# ------------------------------------------------------------------ every event, every customer


def test_a_customer_with_only_replayed_events_does_not_stop_the_next_customer() -> None:
    loaded = fresh("a", "b")
    first = positioned(purchase("a", 0, 10), "p0", 0)
    apply_events(loaded, [first], 0, Models())
    r = apply_events(loaded, [first, positioned(purchase("b", 0, 10), "p1", 0)], 0, Models())
    assert [i.customer_id for i in r.items] == ["b"] and r.skipped == {"purchases": 1}


def test_a_duplicate_does_not_stop_the_customers_later_events() -> None:
    p = purchase("a", 1, 10)
    batch = [positioned(p, "p0", 0), positioned(p, "p0", 1), positioned(purchase("a", 2, 10), "p0", 2)]
    r = apply_events(fresh("a"), batch, 0, Models())
    st = r.items[0].state
    assert (st.purchases.count, st.offsets, r.duplicates) == (2, {"p0": 2}, {"purchases": 1})


def test_a_batch_of_only_duplicates_saves_their_offsets_and_counts_each() -> None:
    loaded = fresh("a")
    apply_events(loaded, [positioned(purchase("a", d, 10), "p0", d) for d in (0, 1)], 0, Models())
    # a retrying producer wrote both again at new offsets 2 and 3
    again = [positioned(purchase("a", d, 10), "p0", 2 + d) for d in (0, 1)]
    r = apply_events(loaded, again, 0, Models())
    assert r.duplicates == {"purchases": 2} and r.outputs == []
    [item] = r.items
    assert (item.events, item.state.offsets, item.state.purchases.count) == (0, {"p0": 3}, 2)


def test_a_failed_event_does_not_stop_the_customers_later_events() -> None:
    bad = Purchase(event_id="x", customer_id="a", ts=T0, amount=float("inf"))
    r = apply_events(fresh("a"), [positioned(bad, "p0", 0), positioned(purchase("a", 1, 5), "p0", 1)], 0, Models())
    assert len(r.failed) == 1 and r.items[0].state.purchases.count == 1


def test_applied_events_are_counted_per_input_topic() -> None:
    loaded = fresh("a")
    apply_events(loaded, [positioned(purchase("a", 0, 10), "p0", 0)], 0, Models())
    batch = [
        positioned(purchase("a", 0, 10), "p0", 0),  # replayed: not counted
        positioned(use("a", 1, "u1"), "u0", 0),
        positioned(use("a", 1, "u2"), "u0", 1),
        positioned(purchase("a", 2, 10), "p0", 1),
    ]
    [item] = apply_events(loaded, batch, 0, Models()).items
    assert (item.events, item.by_kind) == (3, {"usage": 2, "purchases": 1})


def test_the_save_item_carries_the_version_the_customer_was_loaded_at() -> None:
    loaded = {"a": Loaded(7, CustomerState())}
    [item] = apply_events(loaded, [positioned(purchase("a", 0, 10), "p0", 0)], 0, Models()).items
    assert item.version == 7 and item.state is loaded["a"].state


def test_catch_up_without_scoring_makes_each_changed_customer_due_at_its_latest_event() -> None:
    batch = [positioned(purchase("a", 3, 10), "p0", 0), positioned(purchase("b", 5, 10), "p1", 0)]
    r = apply_events(fresh("a", "b"), batch, 0, Models(), score=False)
    assert [(i.customer_id, i.due_us, i.changes) for i in r.items] == [("a", us(3), []), ("b", us(5), [])]
    assert r.outputs == []


# ------------------------------------------------------------------ RFM histogram moves


def test_a_purchase_moves_the_customers_rfm_histogram_buckets() -> None:
    loaded = fresh("a")
    r = apply_events(loaded, [positioned(purchase("a", 10, 20), "p0", 0)], 0, Models())
    # new customer: into the last-day (19,723 + 10), count (1) and spend (2,000 cents) buckets
    assert r.items[0].buckets == [("l", None, EPOCH_DAY_T0 + 10), ("f", None, 1), ("m", None, 2000)]
    r = apply_events(loaded, [positioned(purchase("a", 12, 5), "p0", 1)], 0, Models())
    assert r.items[0].buckets == [("l", EPOCH_DAY_T0 + 10, EPOCH_DAY_T0 + 12), ("f", 1, 2), ("m", 2000, 2500)]


def test_a_purchase_moves_only_the_metrics_whose_bucket_changed() -> None:
    loaded = fresh("a")
    apply_events(loaded, [positioned(purchase("a", 10.2, 20), "p0", 0)], 0, Models())
    # same day, nothing spent: only the count moves
    r = apply_events(loaded, [positioned(purchase("a", 10.5, 0), "p0", 1)], 0, Models())
    assert r.items[0].buckets == [("f", 1, 2)]


def test_usage_moves_no_rfm_histogram_bucket() -> None:
    loaded = fresh("a")
    apply_events(loaded, [positioned(purchase("a", 10, 20), "p0", 0)], 0, Models())
    r = apply_events(loaded, [positioned(use("a", 11, "u1"), "u0", 0)], 0, Models())
    assert r.items[0].buckets == []


# ------------------------------------------------------------------ when a customer is scored


def due_after_one_purchase(active: dict[str, int]) -> int | None:
    """The due time of a new customer whose only purchase (day 10, partition p0) is scored now.

    A new customer's next change is the end of "new" (first purchase + 30 days = day 40), so
    its due time is the weekly re-score, 7 days after the time it was scored at."""
    r = apply_events(fresh("a"), [positioned(purchase("a", 10, 10), "p0", 0)], us(9), Models(), active=active)
    return r.items[0].due_us


def test_a_customer_is_scored_no_later_than_its_lagging_usage_partition() -> None:
    # usage partition u0 (the customer's, as its purchases are on p0) is consumed up to day 8:
    # scored as of day 8, due 8 + 7 = day 15
    assert due_after_one_purchase({"u0": us(8)}) == us(15)


def test_the_batchs_own_partition_clock_replaces_a_stale_active_clock() -> None:
    # p0 was last seen at day 5, but this batch moves it to day 10: scored as of day 10, due day 17
    assert due_after_one_purchase({"p0": us(5)}) == us(17)
    assert due_after_one_purchase({}) == us(17)


def test_apply_events_moves_the_clock_with_the_given_quorum_and_jump() -> None:
    events = [positioned(purchase("a", d, 1), "p0", d) for d in range(5)]
    events.append(positioned(purchase("x", 700, 1), "p0", 5))  # far ahead
    assert apply_events(fresh("a", "x"), events, 0, Models()).clock["global"] == us(4)
    assert apply_events(fresh("a", "x"), events, 0, Models(), quorum=1).clock["global"] == us(700)
    assert apply_events(fresh("a", "x"), events, 0, Models(), jump_us=800 * DAY).clock["global"] == us(700)


def test_an_event_re_evaluates_only_the_rule_dimensions_reading_what_it_changed() -> None:
    rules = parse_rules(
        "dimensions:\n  recency:\n    - segment: lapsed\n      label: {en: Lapsed}\n      when: recency_days > 30\n"
    )
    models = Models(rules=rules)
    loaded = fresh("a")
    apply_events(loaded, [positioned(purchase("a", 0, 10), "p0", 0)], 0, models)
    # day 40: a usage event changes usage (and lifecycle), not purchases: "recency" (time-based)
    # is left to the due-time sweep
    r = apply_events(loaded, [positioned(use("a", 40, "u1"), "u0", 0)], 0, models)
    assert "recency" not in {c[0] for c in r.items[0].changes}
    s = rescore({"a": Loaded(1, loaded["a"].state)}, {"a": us(40)}, us(40), models)
    assert ("recency", None, "lapsed") in s.items[0].changes


def test_rfm_reasons_are_in_the_given_currency_usd_by_default() -> None:
    r = apply_events(fresh("a"), [positioned(purchase("a", 0, 19.99), "p0", 0)], 0, Models())
    assert next(c.reason for c in r.outputs if c.dimension == "rfm").endswith("19.99 USD in total")
    r = apply_events(fresh("a"), [positioned(purchase("a", 0, 19.99), "p0", 0)], 0, Models(), currency="EUR")
    assert next(c.reason for c in r.outputs if c.dimension == "rfm").endswith("19.99 EUR in total")


# ------------------------------------------------------------------ the clock


def test_the_same_batch_again_moves_no_clock_field() -> None:
    events = [positioned(purchase("a", d, 1), "p0", d) for d in range(4)]
    clock = advance_clock(events, 0)
    assert clock == {"p0#0": us(3), "p0#1": us(2), "p0#2": us(1), "p0": us(3), "global": us(3)}
    assert advance_clock(events, clock) == {"global": us(3)}


def test_the_first_batch_ever_starts_from_an_empty_clock_hash() -> None:
    assert advance_clock([], {}) == {"global": 0}
    assert advance_clock([positioned(purchase("a", 2, 1), "p0", 0)], {})["global"] == us(2)


def test_a_partition_moved_by_another_in_the_same_batch_catches_up_too() -> None:
    # all at day 10; p1's event (day 11.8) is more than a day past every clock, until p0's
    # events (days 10.5, 11) move the global clock to day 11: then it is within a day
    stored = {"global": us(10), "p0": us(10), "p1": us(10)}
    batch = [positioned(purchase("b", 11.8, 1), "p1", 0)] + [
        positioned(purchase("a", d, 1), "p0", i) for i, d in enumerate((10.5, 11))
    ]
    clock = advance_clock(batch, stored)
    assert (clock["p0"], clock["p1"], clock["global"]) == (us(11), us(11.8), us(11.8))


# ------------------------------------------------------------------ rescore


def bought(day: float, version: int = 1) -> Loaded:
    loaded = fresh("x")
    apply_events(loaded, [positioned(purchase("x", day, 10), "p0", 0)], 0, Models())
    return Loaded(version, loaded["x"].state)


def test_rescore_skips_a_vanished_customer_and_goes_on() -> None:
    a = bought(0, version=3)
    r = rescore({"gone": Loaded(0, CustomerState()), "a": a}, {}, us(100), Models())
    [item] = r.items
    assert (item.customer_id, item.version, item.state is a.state) == ("a", 3, True)
    assert ("lifecycle", "new", "churned") in item.changes  # 100 days silent (churned from 90)


def test_rescore_reports_each_customers_changes_in_its_save_item() -> None:
    a = bought(0)
    r = rescore({"a": a}, {"a": us(100)}, us(100), Models())
    [item] = r.items
    assert item.changes == [(c.dimension, c.from_segment, c.to_segment or None) for c in r.outputs]
    assert ("lifecycle", "new", "churned") in item.changes


def test_a_customer_due_at_its_own_last_event_is_scored_at_that_event() -> None:
    a = bought(10)
    a.state.segments.clear()
    r = rescore({"a": a}, {"a": us(10)}, us(100), Models())
    assert a.state.segments["lifecycle"] == "new"  # as of day 10, not day 100 (churned)
    assert {c.event_id.split("-")[1] for c in r.outputs} == {str(us(10))}


def test_rescore_reasons_are_in_the_given_currency_usd_by_default() -> None:
    r = rescore({"a": bought(0)}, {}, us(100), Models())
    assert "10.00 USD in total" in next(c.reason for c in r.outputs if c.dimension == "rfm")
    r = rescore({"a": bought(0)}, {}, us(100), Models(), currency="EUR")
    assert "10.00 EUR in total" in next(c.reason for c in r.outputs if c.dimension == "rfm")


def test_a_customer_with_neither_purchases_nor_use_is_not_enough_data_not_the_nearest_cluster() -> None:
    snap = ClusterSnapshot(
        version=2, ids=[4], centers=[[-1.0, 0.0, 0.0, -0.9, -1.5, 0.0]], mean=[0.0] * 6, std=[1.0] * 6,
        descriptions={"en": ["declining use, small orders, light user"], "zh-CN": ["x"]}, next_id=5, learned=10,
    )  # fmt: skip
    events = [
        positioned(Profile(event_id="pr1", customer_id="p", ts=T0, industry="retail"), "r0", 0),
        positioned(Feedback(event_id="f1", customer_id="p", ts=T0, kind="nps", score=9), "f0", 0),
        positioned(use("a", 0, "u1"), "u0", 0),
    ]
    for language, name in (("en", "Not enough data"), ("zh-CN", "数据不足")):
        loaded = fresh("p", "a")
        apply_events(loaded, events, 0, Models())
        both = {c: Loaded(1, loaded[c].state) for c in loaded}
        r = rescore(both, {}, us(1), Models(cluster_snapshot=snap), language=language)
        changes = {c.customer_id: c for c in r.outputs if c.dimension == "cluster"}
        assert (changes["p"].to_segment, changes["p"].to_name) == ("insufficient", name)
        assert changes["a"].to_segment == "c4"
    assert changes["a"].to_name == "使用下降、轻度使用"  # the used-only customer reads the usage words only
    assert both["p"].state.segments["cluster"] == "insufficient"


def test_a_customer_between_two_centres_stays_in_its_cluster_within_the_margin() -> None:
    from segstream.scoring.behaviour import behaviours

    st = bought(0).state
    x = behaviours([st], us(20), Models())[0].tolist()
    near, far = [x[0] + 0.5, *x[1:]], [x[0] - 0.525, *x[1:]]  # distances 0.5 and 0.525
    snap = ClusterSnapshot(2, [3, 4], [near, far], [0.0] * len(x), [1.0] * len(x), {"en": ["a", "b"]}, 5, 10)
    for margin, expected in ((0.1, []), (0.0, [("c4", "c3")])):
        loaded = bought(0)
        loaded.state.segments["cluster"] = "c4"
        r = rescore({"a": loaded}, {}, us(20), Models(cluster_snapshot=snap, cluster_margin=margin))
        assert [(c.from_segment, c.to_segment) for c in r.outputs if c.dimension == "cluster"] == expected


def test_a_customer_placed_before_the_count_last_changed_goes_to_its_nearest_centre_once() -> None:
    from segstream.scoring.behaviour import behaviours

    st = bought(0).state
    x = behaviours([st], us(20), Models())[0].tolist()
    near, far = [x[0] + 0.5, *x[1:]], [x[0] - 0.525, *x[1:]]  # distances 0.5 and 0.525
    # the count changed at version 7: c3 is nearer, but within the margin of 0.1
    snap = ClusterSnapshot(
        7, [3, 4], [near, far], [0.0] * len(x), [1.0] * len(x), {"en": ["a", "b"]}, 5, 10, rebuilt=7
    )  # fmt: skip
    for placed_under, expected in ((7, []), (6, [("c4", "c3")]), (0, [("c4", "c3")])):
        loaded = bought(0)
        loaded.state.segments["cluster"] = "c4"
        loaded.state.cluster_rebuilt = placed_under
        r = rescore({"a": loaded}, {}, us(20), Models(cluster_snapshot=snap, cluster_margin=0.1))
        assert [(c.from_segment, c.to_segment) for c in r.outputs if c.dimension == "cluster"] == expected
        assert r.items[0].state.cluster_rebuilt == 7  # placed under this partition now: saved with the state


def test_by_default_a_customer_leaves_its_cluster_only_for_a_centre_a_fifth_nearer() -> None:
    from segstream.config import load_settings
    from segstream.scoring.behaviour import behaviours
    from segstream.scoring.models import build_models

    x = behaviours([bought(0).state], us(20), Models())[0].tolist()

    def moves(other: float, models: Models) -> list[tuple[str | None, str]]:
        """The customer is in c4, 0.5 standard units away; c3 is ``other`` away."""
        centres = [[x[0] + other, *x[1:]], [x[0] - 0.5, *x[1:]]]
        models.cluster_snapshot = ClusterSnapshot(2, [3, 4], centres, [0.0] * 7, [1.0] * 7, {"en": ["a", "b"]}, 5, 10)
        loaded = bought(0)
        loaded.state.segments["cluster"] = "c4"
        r = rescore({"a": loaded}, {}, us(20), models)
        return [(c.from_segment, c.to_segment) for c in r.outputs if c.dimension == "cluster"]

    # c3 at 0.42, 0.84 of the distance: stays with a margin of 0.2 (0.42 >= 0.8 * 0.5 = 0.40),
    # moves with 0.1 (0.42 < 0.9 * 0.5 = 0.45); c3 at 0.39, 0.78 of it: moves with either
    for default in (Models(), build_models(load_settings())):
        assert moves(0.42, default) == []
        assert moves(0.39, default) == [("c4", "c3")]
    assert moves(0.42, Models(cluster_margin=0.1)) == [("c4", "c3")]


def test_rescore_assigns_clusters_with_names_in_the_given_language() -> None:
    snap = ClusterSnapshot(
        version=2, ids=[4], centers=[[1.0, 0.0, 0.0, 0.9, 0.0, 0.0]], mean=[0.0] * 6, std=[1.0] * 6,
        descriptions={"en": ["large orders, heavy user"], "zh-CN": ["大额订单、重度使用"]}, next_id=5, learned=10,
    )  # fmt: skip
    # a customer who only bought reads the words about purchases only
    for language, name in (("en", "large orders"), ("zh-CN", "大额订单")):
        r = rescore({"a": bought(0)}, {}, us(20), Models(cluster_snapshot=snap), language=language)
        [change] = [c for c in r.outputs if c.dimension == "cluster"]
        assert (change.to_segment, change.to_name) == ("c4", name)
