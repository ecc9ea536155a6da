"""The answers both HTTP servers give from Redis alone: the segment listings and the OpenAPI
document of each process.

The worker's Faust views (:mod:`segstream.api.views`) and the standalone API
(:mod:`segstream.api.server`) call these, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import msgspec

from segstream.scoring.models import Models, segment_name
from segstream.state.store import Store
from segstream.streams.codec import from_us

from .http import HTTPProblem

#: Customer keys one page of a segment listing examines at most.
SCAN_PER_PAGE: Final = 2000
#: Which process serves a path of the packaged OpenAPI document (absent: both).
SERVED_BY: Final = "x-segstream-served-by"

Process = Literal["worker", "api"]


async def segments_overview(store: Store, models: Models, language: str) -> dict[str, Any]:
    """``GET /segments``: the population of every segment, its name, the model versions."""
    counts = await store.segment_counts()
    stats = await store.stats()
    clock = (await store.clock()).get("global", 0)
    names = {d: {seg: segment_name(d, seg, models, language) for seg in segs} for d, segs in counts.items()}
    rfm, clusters, value = models.rfm_snapshot, models.cluster_snapshot, models.value_snapshot
    return {
        "segments": counts,
        "names": names,
        "model_versions": {
            "rfm": rfm.version if rfm else None,
            "cluster": clusters.version if clusters else None,
            "value": value.version if value else None,
        },
        "value_model": msgspec.to_builtins(value) if value else None,
        "stats": stats,
        "stream_clock": from_us(clock).isoformat() if clock else None,
    }


async def segment_page(store: Store, dimension: str, segment: str, cursor: int, limit: int) -> dict[str, Any]:
    """``GET /segments/{dimension}/{segment}/customers``: one page of members (404: no such
    dimension)."""
    if dimension not in await store.segment_counts():
        raise HTTPProblem(404, f"no dimension {dimension!r}")
    found, cursor, scanned = await store.in_segment(dimension, segment, cursor, limit, SCAN_PER_PAGE)
    return {
        "dimension": dimension,
        "segment": segment,
        "customers": found,
        "next_cursor": cursor or None,
        "scanned": scanned,
    }


@cache
def openapi(process: Process) -> bytes:
    """The packaged OpenAPI document with only the paths ``process`` serves."""
    doc = json.loads(resources.files("segstream.api").joinpath("openapi.json").read_text(encoding="utf-8"))
    doc["paths"] = {
        path: {k: v for k, v in item.items() if k != SERVED_BY}
        for path, item in doc["paths"].items()
        if process in item.get(SERVED_BY, ("worker", "api"))
    }
    if process == "api":
        doc["info"]["title"] = "segstream profile API"
    return json.dumps(doc).encode()
