"""RFM of a whole batch: R, F, M and the segment of every customer with purchases at once
(the columnar form of the scorers in :mod:`segstream.models.rfm`, same rules and edges)."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from segstream.models.decay import US_PER_DAY
from segstream.models.rfm import CN8_SEGMENTS, FixedRFMScorer, MeanRFMScorer, QuintileRFMScorer, segment_of
from segstream.scoring.columns import I64, Columns

#: Segment of every (r, fm) in 1..5 x 1..5, row r, column fm (index 0 unused).
SEGMENT_TABLE: Final = np.array(
    [[""] * 6] + [[""] + [segment_of(r, fm) for fm in range(1, 6)] for r in range(1, 6)], dtype=object
)
_CN8_TABLE: Final = np.empty((2, 2, 2), dtype=object)
for (_r, _f, _m), _code in CN8_SEGMENTS.items():
    _CN8_TABLE[_r, _f, _m] = _code


def _count(values: NDArray[np.generic], edges: list[float] | tuple[float, ...], op: str) -> I64:
    e = np.asarray(edges, dtype=np.float64)[None, :]
    v = values.astype(np.float64)[:, None]
    hits = {"<": v < e, ">": v > e, ">=": v >= e}[op]
    return hits.sum(axis=1)  # type: ignore[no-any-return]


def score_rfm(
    c: Columns, scorer: FixedRFMScorer | QuintileRFMScorer | MeanRFMScorer
) -> tuple[I64, I64, I64, NDArray[np.object_]]:
    """(r, f, m, segment code) of each customer; rows without purchases are meaningless
    (mask with ``c.has_p``)."""
    count, spend = c.p_count, c.p_spend
    if isinstance(scorer, QuintileRFMScorer):
        snap = scorer.snapshot
        r = 5 - _count(c.p_last // US_PER_DAY, snap.last_day_cuts, "<")
        f = 1 + _count(count, snap.f_edges, ">")
        m = 1 + _count(spend, snap.m_edges, ">")
    elif isinstance(scorer, MeanRFMScorer):
        snap = scorer.snapshot
        r = (c.p_last // US_PER_DAY > snap.mean_last_day).astype(np.int64)
        f = (count > snap.mean_f).astype(np.int64)
        m = (spend > snap.mean_m).astype(np.int64)
        return r, f, m, _CN8_TABLE[r, f, m]
    else:
        days = np.maximum(0, c.now - c.p_last) / US_PER_DAY
        r = 5 - _count(days, scorer.recency_days, ">")
        f = 1 + _count(count, scorer.frequency, ">=")
        m = 1 + _count(spend, scorer.monetary, ">=")
    return r, f, m, SEGMENT_TABLE[r, (f + m + 1) // 2]
