"""Events held past the barrier's boundary: per-customer order, the bound, the commit bound,
and the same held set however the partition was split into fetches."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from segstream.agents.holding import Holding


def probe(raw: bytes | None) -> tuple[int | None, str | None]:
    """Test records carry ``b"<ts> <customer>"`` ("-" for an unreadable part)."""
    ts, cid = (raw or b"- -").decode().split()
    return (None if ts == "-" else int(ts)), (None if cid == "-" else cid)


def recs(*events: tuple[object, str]) -> list[Any]:
    return [SimpleNamespace(offset=i, value=f"{ts} {cid}".encode()) for i, (ts, cid) in enumerate(events)]


def offsets(records: list[Any]) -> list[int]:
    return [r.offset for r in records]


def test_an_event_past_the_boundary_holds_its_customers_later_events_even_earlier_ones() -> None:
    h = Holding(probe, ahead_us=1000)
    apply, taken = h.admit(recs((15, "a"), (5, "a"), (5, "b")), boundary=10, cap=100)
    assert offsets(apply) == [2]  # b's event; a's second waits behind its first, though it is earlier
    assert taken == 3 and len(h) == 2
    assert offsets(h.release(20)) == [0, 1]
    assert len(h) == 0


def test_release_lets_go_of_each_customers_events_up_to_the_first_that_still_waits() -> None:
    h = Holding(probe, ahead_us=1000)
    h.admit(recs((15, "a"), (25, "a"), (12, "b"), (18, "a")), boundary=10, cap=100)
    assert h.earliest() == 12
    assert offsets(h.release(20)) == [0, 2]  # a at 15 and b at 12; a's 18 is behind its 25
    assert h.earliest() == 25 and len(h) == 2
    assert offsets(h.release(30)) == [1, 3]


def test_offsets_may_be_committed_only_up_to_the_earliest_held_event() -> None:
    h = Holding(probe, ahead_us=1000)
    assert h.first_offset() is None
    h.admit(recs((1, "x"), (15, "a"), (2, "y"), (16, "b")), boundary=10, cap=100)
    assert h.first_offset() == 1
    h.release(16)  # a (15) goes, b (16) still waits
    assert h.first_offset() == 3
    h.release(17)
    assert h.first_offset() is None


def test_a_partition_stops_reading_once_it_holds_its_bound() -> None:
    h = Holding(probe, ahead_us=1000)
    apply, taken = h.admit(recs((15, "a"), (3, "c"), (16, "b"), (4, "d")), boundary=10, cap=2)
    assert offsets(apply) == [1] and taken == 3  # the fourth record is read again later
    assert len(h) == 2


def test_outliers_unreadable_events_and_the_first_boundary() -> None:
    h = Holding(probe, ahead_us=100)
    apply, _ = h.admit(recs((500, "far"), ("-", "a"), (12, "-"), (50, "b")), boundary=10, cap=100)
    # more than ahead_us past the boundary: applied at once; no time or no id: the codec's
    assert offsets(apply) == [0, 1, 2]
    assert len(h) == 1
    first = Holding(probe, ahead_us=100)
    apply, _ = first.admit(recs((500, "far"), (3, "a")), boundary=0, cap=100)
    assert apply == [] and first.earliest() == 3  # no boundary yet: everything with a time waits


def test_release_all_gives_every_held_event_in_offset_order() -> None:
    h = Holding(probe, ahead_us=1000)
    h.admit(recs((30, "a"), (15, "b"), (20, "a")), boundary=10, cap=100)
    assert offsets(h.release_all()) == [0, 1, 2]
    assert len(h) == 0 and h.first_offset() is None and h.earliest() is None


events = st.lists(st.tuples(st.integers(0, 60), st.sampled_from("abcde")), max_size=40)


@given(events, st.lists(st.integers(1, 10), max_size=10), st.integers(1, 50))
def test_what_is_held_does_not_depend_on_how_the_partition_was_fetched(
    evs: list[tuple[int, str]], cuts: list[int], cap: int
) -> None:
    """A replay on a fast and on a slow machine reads a partition in different batches."""
    all_recs = recs(*evs)

    def run(chunks: list[int]) -> tuple[list[int], list[list[int]]]:
        h = Holding(probe, ahead_us=1000)
        applied: list[int] = []
        pos = 0
        sizes = iter(chunks)
        while pos < len(all_recs):
            chunk = all_recs[pos : pos + next(sizes, len(all_recs))]
            apply, taken = h.admit(chunk, boundary=20, cap=cap)
            applied += offsets(apply)
            pos += taken
            if taken < len(chunk):  # the bound is reached: the partition stops reading
                break
        return applied, [offsets(h.release(b)) for b in (30, 45, 70)]

    assert run([len(all_recs)]) == run(cuts)


@given(events)
def test_each_customers_events_are_applied_in_offset_order(evs: list[tuple[int, str]]) -> None:
    h = Holding(probe, ahead_us=1000)
    order, _ = h.admit(recs(*evs), boundary=20, cap=1000)
    applied = offsets(order)
    for b in (30, 40, 50, 61):
        applied += offsets(h.release(b))
    assert sorted(applied) == list(range(len(evs)))  # every event once
    for cid in "abcde":
        mine = [o for o in applied if evs[o][1] == cid]
        assert mine == sorted(mine)
