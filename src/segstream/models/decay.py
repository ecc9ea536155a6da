"""Exponentially decayed sums in event time, order-independent.

A decayed sum is kept referenced to the latest event time seen (``ref_us``):
``value = sum(w_i * exp(-(ref - t_i) / tau))``. A late event (``t < ref``) is added already
decayed, so the result does not depend on arrival order (up to float rounding) and a
replay gives the same numbers as live processing.
"""

from __future__ import annotations

import math
from typing import Final

US_PER_DAY: Final = 86_400_000_000


def tau_us(half_life_days: float) -> float:
    """Time constant (µs) of a decay with the given half-life."""
    if half_life_days <= 0:
        raise ValueError(f"half-life must be > 0 days, got {half_life_days}")
    return half_life_days * US_PER_DAY / math.log(2)


def add(value: float, ref_us: int, weight: float, ts_us: int, tau: float) -> tuple[float, int]:
    """Add ``weight`` at ``ts_us`` to a sum referenced at ``ref_us``; return (value, new ref).

    >>> tau = tau_us(1.0)
    >>> v, ref = add(0.0, 0, 1.0, 0, tau)
    >>> v, ref = add(v, ref, 1.0, US_PER_DAY, tau)   # one half-life later: 0.5 + 1
    >>> round(v, 12), ref == US_PER_DAY
    (1.5, True)
    >>> late, _ = add(1.0, US_PER_DAY, 1.0, 0, tau)  # a late event arrives already decayed
    >>> round(late, 12)
    1.5
    """
    if ts_us >= ref_us:
        return value * math.exp(-(ts_us - ref_us) / tau) + weight, ts_us
    return value + weight * math.exp(-(ref_us - ts_us) / tau), ref_us


def at(value: float, ref_us: int, now_us: int, tau: float) -> float:
    """The sum decayed to ``now_us`` (never grown when ``now_us`` is before ``ref_us``)."""
    return value * math.exp(-max(0, now_us - ref_us) / tau)
