"""Population quantiles from a bucketed histogram that supports removals.

RFM quintiles are quantiles of the *current* customer population, whose values change
with every purchase: a customer's old value must leave the summary when its new value
enters. Classic streaming sketches (t-digest, KLL) cannot delete, so segstream keeps a
histogram of bucket counts (moved atomically with each customer's state) and reads
quantiles from it the way ``numpy.quantile`` (linear interpolation) reads sorted data.
Values up to ``exact_up_to`` (an integer metric: purchase counts, days, money in cents)
get one bucket per value, so quantiles are exact, ties included; larger values share
logarithmic buckets 0.1% wide, so quantiles there are within 0.1%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

LOG_STEP: Final = math.log(1.001)


def bucket(value: int, exact_up_to: int) -> int:
    """The bucket of a non-negative integer value.

    >>> bucket(7, exact_up_to=1000), bucket(1000, 1000), bucket(2000, 1000) - 1001
    (7, 1000, 7605)
    """
    if value <= exact_up_to:
        return int(value)
    return exact_up_to + 1 + int(math.log1p(value) / LOG_STEP)


def bucket_bounds(b: int, exact_up_to: int) -> tuple[float, float]:
    """The [low, high) value range of a bucket (low == high for an exact bucket)."""
    if b <= exact_up_to:
        return float(b), float(b)
    k = b - exact_up_to - 1
    return max(float(exact_up_to), math.expm1(k * LOG_STEP)), math.expm1((k + 1) * LOG_STEP)


def quantiles(hist: Mapping[int, int], probs: Sequence[float], exact_up_to: int) -> list[float]:
    """``numpy.quantile(values, probs)`` (linear) computed from bucket counts.

    >>> import numpy as np
    >>> values = [1, 1, 1, 2, 2, 3, 5, 8, 13, 40]
    >>> hist = {}
    >>> for v in values:
    ...     hist[bucket(v, 1000)] = hist.get(bucket(v, 1000), 0) + 1
    >>> quantiles(hist, [0.2, 0.4, 0.6, 0.8], 1000) == list(np.quantile(values, [0.2, 0.4, 0.6, 0.8]))
    True
    """
    items = sorted((b, c) for b, c in hist.items() if c > 0)
    n = sum(c for _, c in items)
    if n == 0:
        return [math.nan] * len(probs)

    def value_at(rank: int) -> float:  # the rank-th smallest value (0-based)
        seen = 0
        for b, c in items:
            if rank < seen + c:
                lo, hi = bucket_bounds(b, exact_up_to)
                return lo if lo == hi else lo + (hi - lo) * (rank - seen + 0.5) / c
            seen += c
        return bucket_bounds(items[-1][0], exact_up_to)[1]

    out = []
    for p in probs:
        h = (n - 1) * p
        lo_rank = math.floor(h)
        a = value_at(lo_rank)
        t = h - lo_rank
        if t > 0:  # numpy's lerp, so that the result is bit-identical to numpy.quantile
            b = value_at(lo_rank + 1)
            a = a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)
        out.append(a)
    return out


def mean(hist: Mapping[int, int], exact_up_to: int) -> float:
    """Mean of the values (bucket midpoints for logarithmic buckets)."""
    n = total = 0.0
    for b, c in hist.items():
        lo, hi = bucket_bounds(b, exact_up_to)
        total += c * (lo + hi) / 2
        n += c
    return total / n if n else math.nan
