"""The pure model step of the purchases agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from segstream.agents.step import advance_clock, apply_events, positioned
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.codec import to_us
from segstream.streams.schemas import Feedback, Profile, Purchase, Usage

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def purchase(cid: str, day: float, amount: float) -> Purchase:
    return Purchase(event_id=f"{cid}-{day}", customer_id=cid, ts=T0 + timedelta(days=day), amount=amount)


def fresh(*cids: str) -> dict[str, Loaded]:
    return {c: Loaded(0, CustomerState()) for c in cids}


def test_first_purchase_sets_state_offsets_and_emits_one_rfm_change() -> None:
    events = [positioned(purchase("a", 0, 19.99), "p0", 7)]
    r = apply_events(fresh("a"), events, 0, Models())
    [item] = r.items
    assert (item.state.purchases.count, item.state.purchases.spend_minor, item.state.offsets) == (1, 1999, {"p0": 7})
    assert item.events == 1 and ("rfm", None, "new") in item.changes and ("lifecycle", None, "new") in item.changes
    [change] = [c for c in r.outputs if c.dimension == "rfm"]
    assert (change.customer_id, change.from_segment, change.to_segment, change.event_id) == (
        "a",
        None,
        "new",
        "p0-7-rfm",
    )
    assert change.ts == T0


def test_replayed_offsets_are_skipped_so_nothing_counts_twice() -> None:
    loaded = fresh("a")
    events = [positioned(purchase("a", d, 10), "p0", off) for off, d in enumerate([0, 1, 2])]
    apply_events(loaded, events, 0, Models())
    # the same three again (a crash before the offset commit) plus one new one
    again = [*events, positioned(purchase("a", 3, 10), "p0", 3)]
    r = apply_events(loaded, again, 0, Models())
    assert r.skipped == {"purchases": 3}
    assert r.items[0].state.purchases.count == 4 and r.items[0].events == 1


def test_a_batch_of_only_replayed_events_saves_nothing() -> None:
    loaded = fresh("a")
    events = [positioned(purchase("a", 0, 10), "p0", 0)]
    apply_events(loaded, events, 0, Models())
    r = apply_events(loaded, events, 0, Models())
    assert r.items == [] and r.outputs == [] and r.skipped == {"purchases": 1}


def test_no_change_event_when_segment_stays_the_same() -> None:
    loaded = fresh("a")
    first = [positioned(purchase("a", d, 100), "p0", d) for d in range(10)]
    r = apply_events(loaded, first, 0, Models())
    assert loaded["a"].state.segments["rfm"] == "champions"
    assert [c.dimension for c in r.outputs].count("rfm") == 1
    r = apply_events(loaded, [positioned(purchase("a", 11, 100), "p0", 10)], 0, Models())
    assert r.outputs == [] and r.items[0].changes == [] and r.items[0].events == 1


def test_stream_clock_never_runs_backwards() -> None:
    events = [positioned(purchase("a", 5, 1), "p0", 0), positioned(purchase("b", 2, 1), "p1", 0)]
    late_clock = to_us(T0 + timedelta(days=10))
    clock = advance_clock(events, late_clock)
    assert clock["global"] == late_clock
    assert clock["p0"] == to_us(T0 + timedelta(days=5)) and clock["p1"] == to_us(T0 + timedelta(days=2))


def test_recency_is_scored_at_the_customers_own_point_in_the_stream() -> None:
    # b's purchase arrives before a much later event of a in the same batch: b is scored
    # as of the clock when its event arrived, so it is "new", not already aged.
    events = [positioned(purchase("b", 0, 1), "p1", 0), positioned(purchase("a", 400, 1), "p0", 0)]
    r = apply_events(fresh("a", "b"), events, 0, Models())
    segs = {i.customer_id: i.state.segments["rfm"] for i in r.items}
    assert segs == {"a": "new", "b": "new"}


def test_chinese_language_gives_chinese_names_and_reasons() -> None:
    r = apply_events(fresh("a"), [positioned(purchase("a", 0, 1), "p0", 0)], 0, Models(), "zh-CN")
    rfm = next(c for c in r.outputs if c.dimension == "rfm")
    assert rfm.to_name == "新客户" and "最近一次购买" in rfm.reason


def test_an_event_the_model_cannot_apply_is_reported_and_does_not_poison_the_batch() -> None:
    bad = Purchase(event_id="x", customer_id="a", ts=T0, amount=float("inf"))  # bypasses the codec
    events = [
        positioned(bad, "p0", 0),
        positioned(purchase("a", 1, 5), "p0", 1),
        positioned(purchase("b", 1, 7), "p1", 0),
    ]
    r = apply_events(fresh("a", "b"), events, 0, Models())
    assert [(p.offset, why.split(":")[0]) for p, why in r.failed] == [(0, "OverflowError")]
    assert {i.customer_id: (i.state.purchases.count, i.state.offsets) for i in r.items} == {
        "a": (1, {"p0": 1}),
        "b": (1, {"p1": 0}),
    }


def test_out_of_order_events_give_the_same_state_as_in_order() -> None:
    days = [5, 1, 9, 3, 7]
    shuffled = [positioned(purchase("a", d, d), "p0", i) for i, d in enumerate(days)]
    ordered = [positioned(purchase("a", d, d), "p0", i) for i, d in enumerate(sorted(days))]
    a, b = fresh("a"), fresh("a")
    apply_events(a, shuffled, 0, Models())
    apply_events(b, ordered, 0, Models())
    assert a["a"].state.purchases == b["a"].state.purchases
    assert a["a"].state.last_us == to_us(T0 + timedelta(days=9))


def test_usage_feedback_and_profile_events_update_their_parts_of_the_state() -> None:
    ts = T0 + timedelta(days=1)
    events = [
        positioned(Usage(event_id="u1", customer_id="a", ts=ts, action="search"), "u0", 0),
        positioned(Feedback(event_id="f1", customer_id="a", ts=ts, kind="nps", score=3), "f0", 0),
        positioned(Profile(event_id="r1", customer_id="a", ts=ts, industry="制造业", city_tier=2), "r0", 0),
    ]
    r = apply_events(fresh("a"), events, 0, Models())
    st = r.items[0].state
    assert st.usage is not None and st.usage.count == 1
    assert st.feedback is not None and st.feedback.nps == 3
    assert st.profile is not None and st.profile.attrs() == {"industry": "制造业", "city_tier": 2}
    assert st.offsets == {"u0": 0, "f0": 0, "r0": 0} and r.items[0].events == 3
    assert "rfm" not in st.segments  # no purchases yet: no RFM segment
    assert st.segments["lifecycle"] == "new"


def test_a_duplicate_event_id_is_applied_once_but_its_offset_is_recorded() -> None:
    p = purchase("a", 1, 10)
    r = apply_events(fresh("a"), [positioned(p, "p0", 0), positioned(p, "p0", 1)], 0, Models())
    assert r.duplicates == {"purchases": 1} and r.items[0].state.purchases.count == 1
    assert r.items[0].state.offsets == {"p0": 1}


DAY_US = 86_400_000_000


def test_one_event_far_ahead_moves_neither_its_partition_nor_the_global_clock() -> None:
    events = [positioned(purchase("a", d, 1), "p0", d) for d in range(5)]
    events.append(positioned(purchase("x", 700, 1), "p0", 5))  # stamped two years ahead
    clock = advance_clock(events, 0)
    assert clock["p0"] == clock["global"] == to_us(T0 + timedelta(days=4))


def test_a_few_outliers_below_the_quorum_are_ignored_even_over_several_batches() -> None:
    clock = advance_clock([positioned(purchase("a", d, 1), "p0", d) for d in range(3)], 0)
    for n, day in enumerate((500, 600)):  # two outliers, each alone in its batch (quorum 3)
        clock = {**clock, **advance_clock([positioned(purchase("x", day, 1), "p0", 10 + n)], clock)}
    assert clock["global"] == to_us(T0 + timedelta(days=2))
    # the same outlier time repeated is no quorum either
    again = advance_clock([positioned(purchase("x", 600, 1), "p0", 20 + n) for n in range(5)], clock)
    assert again["global"] == to_us(T0 + timedelta(days=2))


def test_a_stream_that_really_jumped_moves_on_after_a_quorum_of_events() -> None:
    clock = advance_clock([positioned(purchase("a", d, 1), "p0", d) for d in range(3)], 0)
    after_gap = [positioned(purchase(f"c{d}", 30 + d / 10, 1), "p0", 10 + d) for d in range(3)]
    clock = advance_clock(after_gap, clock)
    # the 3rd largest of 30.0 .. 30.2 confirms the gap; the watermark then follows to 30.2
    assert clock["p0"] == clock["global"] == to_us(T0 + timedelta(days=30.2))
    more = advance_clock([positioned(purchase("c", 30.5, 1), "p0", 20)], clock)
    assert more["p0"] == to_us(T0 + timedelta(days=30.5))  # and follows the stream again


def test_other_customers_are_scored_as_if_the_outlier_never_came() -> None:
    base = [positioned(purchase(c, d, 10), "p0", i) for i, (c, d) in enumerate([("a", 0), ("b", 1), ("a", 2)])]
    clean = apply_events(fresh("a", "b"), base, 0, Models())
    hostile = apply_events(fresh("a", "b", "x"), [*base, positioned(purchase("x", 600, 10), "p0", 3)], 0, Models())
    assert hostile.clock["global"] == clean.clock["global"]
    segs = {i.customer_id: dict(i.state.segments) for i in hostile.items}
    assert {i.customer_id: dict(i.state.segments) for i in clean.items} == {c: segs[c] for c in ("a", "b")}
    # the outlier's own customer is scored as of its own event: just bought, not "lost"
    assert segs["x"]["lifecycle"] == "new"


def test_a_sparse_partition_keeps_up_with_the_clock_the_other_partitions_vouch_for() -> None:
    # p1 is silent for three days, then has one event on the day the others reached
    clock = advance_clock([positioned(purchase("a", d, 1), "p0", d) for d in range(4)], 0)
    clock = {**clock, **advance_clock([positioned(purchase("b", 0, 1), "p1", 0)], clock)}
    after = advance_clock([positioned(purchase("b", 3.5, 1), "p1", 1)], clock)
    assert after["p1"] == after["global"] == to_us(T0 + timedelta(days=3.5))
