"""The due-time index on the real Redis: split into small slot zsets (state/due.py), read
earliest first, counted, bulk-marked, and migrated from the one-zset-per-shard layout of
releases before 2026-12-03."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import redis

from segstream.config import Settings
from segstream.state.customer import CustomerState
from segstream.state.store import SaveItem, Store
from tests.integration.harness import read_store


def _items(due: dict[str, int]) -> list[SaveItem]:
    return [SaveItem(c, 0, CustomerState(offsets={"p0": i}), due_us=t) for i, (c, t) in enumerate(due.items())]


def test_due_reads_the_earliest_over_every_slot_and_counts_them(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(redis_shards=3, redis_due_slots=4)  # 12 slots for 300 customers
    rng = random.Random(5)
    due = {f"c{i}": rng.randrange(1, 10_000) for i in range(300)}

    async def run(store: Store) -> dict[str, Any]:
        out: dict[str, Any] = {"conflicts": await store.save(_items(due), {}, "purchases")}
        out["due"] = await store.due(5_000, 25)
        out["count"] = await store.due_count(5_000)
        out["all"] = await store.due(10_000, 1_000)
        # the earliest customer moves later: its slot's earliest time is recomputed
        first = min(due, key=lambda c: (due[c], c))
        out["moved"] = first
        await store.save([SaveItem(first, 1, CustomerState(offsets={"p0": 1}), due_us=9_999)], {}, "purchases")
        out["after"] = await store.due(5_000, 1)
        out["marked"] = await store.mark_all_due(3)
        out["due_after_mark"] = await store.due_count(3)
        return out

    out = read_store(s, run)
    assert out["conflicts"] == []
    want = sorted((t, c) for c, t in due.items() if t <= 5_000)
    assert sorted(out["due"].values()) == [t for t, _ in want[:25]]  # the 25 earliest times (ties: any id)
    assert all(due[c] == t for c, t in out["due"].items())
    assert out["count"] == len(want)
    assert out["all"] == due
    rest = sorted(t for c, t in due.items() if c != out["moved"])
    assert list(out["after"].values()) == [rest[0]]
    assert out["marked"] == 300 and out["due_after_mark"] == 300


def test_slots_stay_in_the_compact_listpack_encoding(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(redis_shards=2, redis_due_slots=8)
    due = {f"customer-{i:05d}": 1_700_000_000_000_000 + i for i in range(1_000)}  # ~62 per slot
    read_store(s, lambda store: store.save(_items(due), {}, "purchases"))
    r = redis.Redis.from_url(s.redis_url)
    try:
        keys = sorted(r.scan_iter(match=f"{s.redis_prefix}:*:due:*", count=1000))
        assert len(keys) == 16
        assert {r.object("encoding", k) for k in keys} == {b"listpack"}
        assert sum(r.zcard(k) for k in keys) == 1_000
    finally:
        r.close()


def test_entries_of_the_one_zset_layout_are_read_and_leave_it_when_saved(
    make_settings: Callable[..., Settings],
) -> None:
    """A deployment upgraded from a release before 2026-12-03 has its customers' due times in
    ``{p}:{s}:due``: the sweep still finds them, and a save moves each into its slot."""
    s = make_settings(redis_shards=2)
    old = {"a": 100, "b": 300, "c": 5_000}
    r = redis.Redis.from_url(s.redis_url)

    async def run(store: Store) -> dict[str, Any]:
        k = store.keys
        for c, t in old.items():
            r.zadd(k.due_legacy(k.shard_of(c)), {c: t})
        out: dict[str, Any] = {"before": await store.due(1_000, 10), "count": await store.due_count(1_000)}
        saved = [SaveItem("a", 0, CustomerState(), due_us=2_000), SaveItem("d", 0, CustomerState(), due_us=50)]
        await store.save(saved, {}, "purchases")
        out["after"] = await store.due(10_000, 10)
        out["legacy"] = {c: r.zscore(k.due_legacy(k.shard_of(c)), c) for c in old}
        out["marked"] = await store.mark_all_due(7)
        out["marked_due"] = await store.due(7, 10)
        return out

    try:
        out = read_store(s, run)
    finally:
        r.close()
    assert out["before"] == {"a": 100, "b": 300} and out["count"] == 2
    assert out["after"] == {"d": 50, "b": 300, "a": 2_000, "c": 5_000}
    assert out["legacy"] == {"a": None, "b": 300.0, "c": 5_000.0}  # only the saved one left it
    assert out["marked"] == 4 and out["marked_due"] == dict.fromkeys("abcd", 7)
