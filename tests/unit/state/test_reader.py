"""The reader's models: snapshots decoded when their bytes change, kept when none is published,
and read at most once per period when the reader has one (the standalone API)."""

from __future__ import annotations

from typing import Any, cast

import msgspec

from segstream.config import Settings
from segstream.state.reader import Reader
from tests.unit.state import golden


def test_reader_sets_the_published_snapshots_and_keeps_them_until_new_bytes_arrive() -> None:
    reader = Reader(Settings(), cast(Any, None))  # use() needs no Redis
    assert reader.models.cluster_snapshot is None
    rfm, clusters, value = golden.rfm_snapshot_v1(), golden.cluster_snapshot_v1(), golden.value_snapshot_v1()
    blobs = [msgspec.msgpack.encode(x) for x in (rfm, clusters, value)]
    models = reader.use(list(blobs))
    assert (models.rfm_snapshot, models.cluster_snapshot, models.value_snapshot) == (rfm, clusters, value)
    first = models.cluster_snapshot
    reader.use(list(blobs))
    assert reader.models.cluster_snapshot is first  # same bytes: not decoded again
    newer = msgspec.structs.replace(clusters, version=5)
    reader.use([None, msgspec.msgpack.encode(newer), None])  # RFM, value not published: kept
    assert reader.models.cluster_snapshot == newer and reader.models.rfm_snapshot == rfm


class SnapshotCountingStore:
    """Answers lookups with no customers and records which snapshots each lookup asked for."""

    def __init__(self, blobs: list[bytes | None]) -> None:
        self.blobs = blobs
        self.asked: list[tuple[str, ...]] = []

    async def get_with_snapshots(self, ids: Any, snapshots: Any) -> tuple[dict[str, Any], int, list[Any], int]:
        self.asked.append(tuple(snapshots))
        return {}, 0, self.blobs[: len(snapshots)], 42


def test_a_reader_with_a_period_reads_the_snapshots_at_most_once_per_period(monkeypatch: Any) -> None:
    import asyncio

    from segstream.state import reader as module
    from segstream.state.keys import SNAPSHOTS

    clock = [100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    clusters = golden.cluster_snapshot_v1()
    store = SnapshotCountingStore([None, msgspec.msgpack.encode(clusters), None])
    r = Reader(Settings(), cast(Any, store), snapshots_every_s=1.0)
    for t in (100.0, 100.5, 100.99, 101.0, 101.2):
        clock[0] = t
        assert asyncio.run(r.customers(["x"])).heartbeat_us == 42
    assert store.asked == [SNAPSHOTS, (), (), SNAPSHOTS, ()]
    assert r.models.cluster_snapshot == clusters
    every = SnapshotCountingStore([None, None, None])
    r = Reader(Settings(), cast(Any, every))  # no period: every lookup reads them
    for _ in range(3):
        asyncio.run(r.customers(["x"]))
    assert every.asked == [SNAPSHOTS] * 3
