"""The reader's models: snapshots decoded when their bytes change, kept when none is published."""

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
