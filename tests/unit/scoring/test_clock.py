"""The scoring clock: which activity partitions bound the sweep (hand-built clock hashes)."""

from __future__ import annotations

from segstream.scoring.clock import active_clocks, scoring_clock


def test_a_partition_that_moved_exactly_idle_ms_ago_is_still_consumed() -> None:
    clocks = {"global": 50, "p0": 40, "wp0": 8_000}  # floor = 10_000 - 2_000 = 8_000
    assert active_clocks(clocks, wall_now_ms=10_000, idle_ms=2_000) == {"p0": 40}
    assert active_clocks(clocks, wall_now_ms=10_001, idle_ms=2_000) == {}


def test_a_partition_never_seen_moving_is_idle_even_one_ms_after_the_epoch_floor() -> None:
    clocks = {"global": 50, "u3": 10}  # no "wu3": no wall time was ever recorded for it
    assert active_clocks(clocks, wall_now_ms=10_000, idle_ms=2_000) == {}
    assert active_clocks(clocks, wall_now_ms=2_001, idle_ms=2_000) == {}  # floor 1: still idle
    assert scoring_clock(clocks, wall_now_ms=10_000, idle_ms=2_000) == 50


def test_top_fields_and_inputs_without_activity_do_not_bound_the_sweep() -> None:
    # "p0#0" is a per-key top, "f0" feedback and "r1" profile partitions: none is an activity clock
    clocks = {"global": 90, "p0": 90, "wp0": 9_900, "p0#0": 3, "wp0#0": 9_900, "f0": 1, "wf0": 9_900, "r1": 2}
    assert active_clocks(clocks, wall_now_ms=10_000, idle_ms=2_000) == {"p0": 90}
    assert scoring_clock(clocks, wall_now_ms=10_000, idle_ms=2_000) == 90


def test_without_a_global_clock_nothing_has_been_applied_and_the_clock_is_zero() -> None:
    assert scoring_clock({}, wall_now_ms=10_000, idle_ms=2_000) == 0
    assert scoring_clock({"p0": 70, "wp0": 1_000}, wall_now_ms=10_000, idle_ms=2_000) == 0
    assert scoring_clock({"p0": 70, "wp0": 9_999}, wall_now_ms=10_000, idle_ms=2_000) == 0
