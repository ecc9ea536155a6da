"""Volatility and flip-backs (hand-counted moves)."""

from __future__ import annotations

from segstream.scoring.stability import HOUR_US, FlipBacks, volatility


def test_defaults_are_a_day_of_event_time_and_200_000_remembered_moves() -> None:
    fb = FlipBacks()
    assert (fb.window_us, fb.max_entries) == (24 * 3_600_000_000, 200_000)  # docs/SEGMENTS.md


def test_an_undo_exactly_one_window_later_or_at_the_same_instant_is_a_flip_back() -> None:
    fb = FlipBacks()
    t0 = 1_000 * HOUR_US  # far from 0: the elapsed time, not the time stamp, is compared
    assert fb.observe("c1", "rfm", "loyal", "champions", t0) is False
    assert fb.observe("c1", "rfm", "champions", "loyal", t0 + 24 * HOUR_US) is True
    assert fb.observe("c2", "value", "low", "medium", t0) is False
    assert fb.observe("c2", "value", "medium", "low", t0) is True
    assert fb.observe("c3", "value", "low", "medium", t0) is False
    assert fb.observe("c3", "value", "medium", "low", t0 + 24 * HOUR_US + 1) is False
    assert (fb.moves["rfm"], fb.backs["rfm"], fb.moves["value"], fb.backs["value"]) == (2, 1, 4, 1)


def test_an_undo_stamped_before_the_move_it_undoes_is_not_a_flip_back() -> None:
    fb = FlipBacks()
    fb.observe("c1", "rfm", "loyal", "champions", 50 * HOUR_US)
    assert fb.observe("c1", "rfm", "champions", "loyal", 49 * HOUR_US) is False


def test_the_least_recently_moved_customer_is_forgotten_first() -> None:
    fb = FlipBacks(max_entries=2)
    for i, c in enumerate(("c1", "c2", "c3")):
        fb.observe(c, "rfm", "loyal", "champions", i)
    assert len(fb) == 2
    assert fb.observe("c1", "rfm", "champions", "loyal", 10) is False  # forgotten
    assert fb.observe("c3", "rfm", "champions", "loyal", 11) is True  # the newest is kept


def test_a_dimension_without_moves_has_rate_zero() -> None:
    fb = FlipBacks()
    fb.observe("c1", "rfm", None, "new", 0)  # entering is not a move
    assert fb.rate("rfm") == 0.0 and fb.rate("cluster") == 0.0


def test_volatility_of_a_dimension_with_no_known_members_is_zero() -> None:
    assert volatility({"cluster": {("", "c1"): 4}}, {"rfm": {"loyal": 10}}, 60) == {"cluster": 0.0}
    assert volatility({"cluster": {("", "c1"): 4}}, {"cluster": {}}, 60) == {"cluster": 0.0}


def test_volatility_is_rounded_to_six_decimals() -> None:
    # one move (a drop and an add) among 6 members in one hour: 2 / 6 = 0.333333...
    assert volatility({"rfm": {("loyal", "champions"): 1}}, {"rfm": {"loyal": 2, "champions": 4}}, 60) == {
        "rfm": 0.333333
    }


def test_moves_are_kept_per_customer_and_dimension_and_before_1970_too() -> None:
    fb = FlipBacks()
    t0 = -10 * HOUR_US  # an event time before the epoch (history imports)
    fb.observe("c1", "rfm", "loyal", "champions", t0)
    fb.observe("c1", "value", "champions", "loyal", t0)  # same names, another dimension
    fb.observe("c1x", "rfm", "champions", "loyal", t0)  # another customer
    assert fb.observe("c1", "rfm", "champions", "loyal", t0 + 5 * HOUR_US) is True
    assert fb.observe("c1", "value", "champions", "loyal", t0 + 5 * HOUR_US) is False  # a repeat, not an undo
    assert fb.observe("c1", "rfm", None, "loyal", t0 + 6 * HOUR_US) is False  # from nothing: never an undo
    assert len(fb) == 3


def test_a_customer_id_with_the_key_separator_does_not_collide() -> None:
    fb = FlipBacks()
    fb.observe("a\x1fb", "rfm", "loyal", "champions", 0)
    assert fb.observe("b", "rfm\x1fa", "champions", "loyal", 1) is False
    assert fb.observe("a\x1fb", "rfm", "champions", "loyal", 2) is True


def test_past_65_536_segment_names_the_memory_starts_afresh_instead_of_failing() -> None:
    fb = FlipBacks()
    fb.observe("c0", "rule", "a", "b", 0)
    for i in range(70_000):  # cluster ids or rule names, far more than any deployment has
        fb.observe(f"c{i + 1}", "rule", None, f"name{i}", 0)
    assert len(fb) < 70_000  # it was cleared on the way
    assert fb.observe("c0", "rule", "b", "a", 1) is False  # forgotten, as after a restart
    fb.observe("c1", "rule", "x", "y", 2)
    assert fb.observe("c1", "rule", "y", "x", 3) is True  # and it works on
