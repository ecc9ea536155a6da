"""RFM of a whole batch: R, F, M and the segment of every customer with purchases at once
(the columnar form of the scorers in :mod:`segstream.models.rfm`, same rules and edges)."""

from __future__ import annotations

from collections.abc import Sequence
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


def _count(values: NDArray[np.generic], edges: Sequence[float] | NDArray[np.float64], op: str) -> I64:
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


def _up(values: NDArray[np.generic], edges: Sequence[float], op: str, margin: float, base: int = 1) -> tuple[I64, I64]:
    """(lowest, highest) of ``base`` + the edges passed when each edge moves by ``margin`` of itself."""
    return (
        base + _count(values, [e * (1 + margin) for e in edges], op),
        base + _count(values, [e * (1 - margin) for e in edges], op),
    )


def score_range(
    c: Columns, scorer: FixedRFMScorer | QuintileRFMScorer | MeanRFMScorer, margin: float, margin_days: float
) -> tuple[I64, I64, I64, I64, I64, I64]:
    """(r_lo, r_hi, f_lo, f_hi, m_lo, m_hi): the scores each customer gets when every edge
    moves by up to ``margin`` (a share of it: frequency, spend) or ``margin_days``
    (recency) against it or in its favour. A customer whose segment is still reachable
    within these ranges keeps it (:func:`keep_within_margins`)."""
    count, spend = c.p_count, c.p_spend
    if isinstance(scorer, MeanRFMScorer):
        snap = scorer.snapshot
        day = c.p_last // US_PER_DAY
        r_lo = (day > snap.mean_last_day + margin_days).astype(np.int64)
        r_hi = (day > snap.mean_last_day - margin_days).astype(np.int64)
        return (r_lo, r_hi, *_up(count, [snap.mean_f], ">", margin, 0), *_up(spend, [snap.mean_m], ">", margin, 0))
    if isinstance(scorer, QuintileRFMScorer):
        snap = scorer.snapshot
        day, cuts = c.p_last // US_PER_DAY, np.asarray(snap.last_day_cuts, dtype=np.float64)
        r_lo, r_hi = 5 - _count(day, cuts + margin_days, "<"), 5 - _count(day, cuts - margin_days, "<")
        return (r_lo, r_hi, *_up(count, snap.f_edges, ">", margin), *_up(spend, snap.m_edges, ">", margin))
    days = np.maximum(0, c.now - c.p_last) / US_PER_DAY
    rec = np.asarray(scorer.recency_days, dtype=np.float64)
    r_lo, r_hi = 5 - _count(days, rec - margin_days, ">"), 5 - _count(days, rec + margin_days, ">")
    return (r_lo, r_hi, *_up(count, scorer.frequency, ">=", margin), *_up(spend, scorer.monetary, ">=", margin))


def keep_within_margins(
    segments: NDArray[np.object_], stored: NDArray[np.object_], corners: list[NDArray[np.object_]]
) -> NDArray[np.object_]:
    """Each customer's stored segment where one of the ``corners`` (the segments named at
    the ends of its score ranges) still gives it, else the segment just scored.

    >>> keep_within_margins(np.array(["loyal", "lost"], dtype=object), np.array(["champions", None], dtype=object),
    ...                     [np.array(["loyal", "lost"], dtype=object), np.array(["champions", "lost"], dtype=object)])
    array(['champions', 'lost'], dtype=object)
    """
    reachable = np.zeros(len(segments), dtype=bool)
    for corner in corners:
        reachable |= corner == stored
    return np.where(reachable & (stored != None), stored, segments)  # type: ignore[no-any-return]  # noqa: E711


def recency_band(c: Columns, r: I64, at_risk_days: float, churn_days: float, binary: bool = False) -> I64:
    """R held inside the band of the days since the last purchase, so that no named segment
    contradicts the lifecycle's absolute thresholds (docs/SEGMENTS.md, "Contradictions").

    Quintiles rank customers against each other: on a young population the bottom fifth is
    "lost" after 20 days, and on an old one the top fifth is "champions" after 200. A
    segment is therefore named with R limited to the band of the customer's own recency:

    ====================================  =======================  ===================
    days since the last purchase          R (1..5) used to name    R of ``cn8`` (0/1)
    ====================================  =======================  ===================
    below ``at_risk_days``                at least 3               1 (recent)
    ``at_risk_days`` up to ``churn_days``  at most 2                as scored
    ``churn_days`` and more               1                        0 (not recent)
    ====================================  =======================  ===================

    The R, F and M scores themselves are not changed (they stay equal to the batch
    quintiles); only the segment they name is.

    >>> from types import SimpleNamespace
    >>> day = 86_400_000_000
    >>> c = SimpleNamespace(now=np.full(4, 100 * day), p_last=np.array([99, 60, 30, 5]) * day)
    >>> recency_band(c, np.array([1, 5, 5, 4]), at_risk_days=45, churn_days=90).tolist()
    [3, 5, 2, 1]
    >>> recency_band(c, np.array([0, 0, 1, 1]), 45, 90, binary=True).tolist()
    [1, 1, 1, 0]
    """
    days = np.maximum(0, c.now - c.p_last) / US_PER_DAY
    recent, lapsed, gone = days < at_risk_days, (days >= at_risk_days) & (days < churn_days), days >= churn_days
    if binary:
        return np.where(recent, 1, np.where(gone, 0, r))  # type: ignore[no-any-return]
    return np.where(recent, np.maximum(r, 3), np.where(lapsed, np.minimum(r, 2), np.where(gone, 1, r)))  # type: ignore[no-any-return]


def segment_codes(r: I64, f: I64, m: I64, binary: bool = False) -> NDArray[np.object_]:
    """The segment code of each (r, f, m): the 11-segment table, or ``cn8`` when ``binary``."""
    return _CN8_TABLE[r, f, m] if binary else SEGMENT_TABLE[r, (f + m + 1) // 2]  # type: ignore[no-any-return]
