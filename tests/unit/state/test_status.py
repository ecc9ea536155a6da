"""The workers' statuses as the API, the dashboard and `segstream status` combine them."""

from __future__ import annotations

import msgspec

from segstream.models.grading import ChurnGrades, Grades, VersionGrades
from segstream.state.status import (
    STATUS_STALE_S,
    PartitionLag,
    WorkerStatus,
    combine,
    encode,
    group_verdict,
)

S = 1_000_000  # µs


def status(name: str, at_s: float, **kw: object) -> bytes:
    return encode(WorkerStatus(worker=name, updated_us=round(at_s * S), **kw))  # type: ignore[arg-type]


def test_a_status_older_than_the_stale_bound_is_a_worker_gone() -> None:
    now = 100.0
    blobs = {"a": status("a", now - STATUS_STALE_S), "b": status("b", now - STATUS_STALE_S - 0.001)}
    w = combine(blobs, round(now * S))
    assert [s.worker for s in w.live] == ["a"] and w.gone == ["b"]


def test_a_status_of_another_shape_is_not_trusted() -> None:
    blobs = {"a": b'{"worker": "a"}', "b": b"\xff", "c": status("c", 5.0)}
    w = combine(blobs, 5 * S)
    assert [s.worker for s in w.live] == ["c"] and w.gone == ["a", "b"]


def test_fields_a_later_release_adds_are_ignored() -> None:
    blob = msgspec.json.encode({"worker": "a", "updated_us": 5 * S, "status": "ready", "future": [1, 2]})
    assert combine({"a": blob}, 5 * S).live[0].status == "ready"


def test_no_live_worker_says_so_and_lag_is_unknown_not_zero() -> None:
    w = combine({"a": status("a", 0.0, status="ready", partitions=4)}, 60 * S)
    assert w.processing["status"] == "no_worker" and "gone: a" in w.processing["reason"]
    assert w.lag == {} and w.lag_total is None and w.grades is None


def test_workers_without_partitions_give_unknown_lag() -> None:
    w = combine({"a": status("a", 1.0, status="standby", partitions=0)}, 1 * S)
    assert w.lag_total is None and w.processing == {"status": "standby", "reason": ""}


def test_the_most_telling_state_wins_and_names_its_worker() -> None:
    blobs = {
        "a": status("a", 1.0, status="ready", reason="processing", partitions=4),
        "b": status("b", 1.0, status="rebalancing", reason="moving", partitions=0),
        "c": status("c", 1.0, status="standby", reason="idle", partitions=0),
    }
    assert combine(blobs, S).processing == {"status": "rebalancing", "reason": "b: moving"}
    blobs["d"] = status("d", 1.0, status="stalled", reason="Redis away", partitions=4)
    assert combine(blobs, S).processing == {"status": "stalled", "reason": "d: Redis away"}


def test_one_worker_keeps_its_own_words() -> None:
    w = combine({"a": status("a", 1.0, status="ready", reason="processing", partitions=2)}, S)
    assert w.processing == {"status": "ready", "reason": "processing"}


def test_lags_add_up_over_workers_and_the_newest_report_of_a_partition_wins() -> None:
    blobs = {
        "old": status("old", 1.0, partitions=2, lag=[PartitionLag("t", 0, 100), PartitionLag("t", 1, 7)]),
        "new": status("new", 2.0, partitions=1, lag=[PartitionLag("t", 0, 3), PartitionLag("u", 10, 2)]),
    }
    w = combine(blobs, 2 * S)
    assert w.lag == {"t": {"0": 3, "1": 7}, "u": {"10": 2}}
    assert w.lag_total == 3 + 7 + 2


def test_partitions_are_listed_in_numeric_order() -> None:
    lag = [PartitionLag("t", p, 1) for p in (10, 2, 1)]
    assert list(combine({"a": status("a", 1.0, partitions=3, lag=lag)}, S).lag["t"]) == ["1", "2", "10"]


def test_moves_and_flip_backs_are_summed_over_live_workers_only() -> None:
    blobs = {
        "a": status("a", 20.0, moves={"rfm": 10, "cluster": 2}, flip_backs={"rfm": 1}),
        "b": status("b", 20.0, moves={"rfm": 30}, flip_backs={"rfm": 2}),
        "gone": status("gone", 1.0, moves={"rfm": 1000}, flip_backs={"rfm": 1000}),
    }
    moves, backs = combine(blobs, 20 * S).moves()
    assert moves == {"rfm": 40, "cluster": 2} and backs == {"rfm": 3}


def grades(graded: int, pending: int = 0) -> Grades:
    return Grades(pending=pending, versions=[VersionGrades(1, ChurnGrades(graded_total=graded))])


def test_the_grades_shown_are_those_of_the_worker_that_graded_most() -> None:
    blobs = {"a": status("a", 1.0, grades=grades(5, pending=1)), "b": status("b", 1.0, grades=grades(3, pending=9))}
    w = combine(blobs, S)
    assert w.grades == grades(3, pending=9)  # 12 graded or waiting against 6
    assert set(w.grades_by_worker) == {"a", "b"} and w.grades_by_worker["a"] == grades(5, pending=1)


def test_the_status_round_trips_through_json() -> None:
    s = WorkerStatus(
        worker="host-6066",
        updated_us=123,
        leader=True,
        status="stalled",
        reason="r",
        partitions=3,
        lag=[PartitionLag("segstream.purchases", 2, 9)],
        moves={"rfm": 1},
        flip_backs={"rfm": 1},
        grades=grades(7),
    )
    assert combine({"host-6066": encode(s)}, 123).live == [s]


def test_group_verdicts_seen_from_outside() -> None:
    assert group_verdict("Stable", 2, 0, 0, 1.0).status == "ready"
    assert group_verdict("Stable", 2, 0, 0, 1.0).reason == "nothing waits"
    assert group_verdict("Stable", 2, 10, 5, 1.0).reason == "processing"
    assert group_verdict("Empty", 0, 0, 0, 1.0).status == "idle"
    assert group_verdict("Empty", 0, 3, 0, 1.0).reason == "3 events wait and no worker is in the consumer group"
    assert group_verdict("Stable", 1, 1_500, 0, 2.0).reason == "1,500 events wait and none was applied in 2 s"
