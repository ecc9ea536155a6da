"""Usage intensity and trend: short- and long-horizon activity rates in event time."""

from __future__ import annotations

import zlib
from typing import NamedTuple

import msgspec

from segstream.models import decay
from segstream.models.decay import US_PER_DAY


class UsageState(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Learned usage state of one customer (all times in µs of event time)."""

    short: float = 0.0  # decayed event count, short half-life, referenced at ref_us
    long: float = 0.0  # the same, long half-life
    ref_us: int = 0
    last_us: int = 0
    count: int = 0
    features: int = 0  # 64-bit bitmap of hashed feature names


class UsageFeatures(NamedTuple):
    rate_short: float  # events per day over the short horizon
    rate_long: float  # events per day over the long horizon
    trend: float | None  # rate_short / rate_long; < 1 means declining use
    days_since_last: float
    events: int
    distinct_features: int


def _feature_bit(name: str) -> int:
    return 1 << (zlib.crc32(name.encode("utf-8")) & 63)


class UsageModel:
    """Decayed activity rates, their ratio as the trend, recency and breadth of use.

    Parameters
    ----------
    short_half_life_days
        Half-life of the short-horizon rate.
    long_half_life_days
        Half-life of the long-horizon rate.

    Examples
    --------
    >>> m = UsageModel(short_half_life_days=7, long_half_life_days=28)
    >>> s = None
    >>> for day in range(28):                      # daily use for four weeks ...
    ...     s = m.learn_one(s, day * US_PER_DAY, feature="reports" if day % 2 else "search")
    >>> f = m.predict_one(s, now_us=27 * US_PER_DAY)
    >>> f.events, f.distinct_features, f.trend > 1
    (28, 2, True)
    >>> m.predict_one(s, now_us=60 * US_PER_DAY).trend < 0.5   # ... then silence
    True
    """

    def __init__(self, short_half_life_days: float = 7.0, long_half_life_days: float = 28.0) -> None:
        if short_half_life_days >= long_half_life_days:
            raise ValueError("the short half-life must be shorter than the long one")
        self.short_half_life_days = short_half_life_days
        self.long_half_life_days = long_half_life_days
        self._tau_s = decay.tau_us(short_half_life_days)
        self._tau_l = decay.tau_us(long_half_life_days)

    def learn_one(
        self, state: UsageState | None, ts_us: int, weight: float = 1.0, feature: str | None = None
    ) -> UsageState:
        s = state or UsageState()
        short, ref = decay.add(s.short, s.ref_us, weight, ts_us, self._tau_s)
        long, _ = decay.add(s.long, s.ref_us, weight, ts_us, self._tau_l)
        bits = s.features | (_feature_bit(feature) if feature else 0)
        return UsageState(short, long, ref, max(s.last_us, ts_us), s.count + 1, bits)

    def predict_one(self, state: UsageState | None, now_us: int) -> UsageFeatures:
        s = state or UsageState()
        # a decayed sum of a steady rate r (per µs) tends to r * tau: rate = value / tau
        rs = decay.at(s.short, s.ref_us, now_us, self._tau_s) / self._tau_s * US_PER_DAY
        rl = decay.at(s.long, s.ref_us, now_us, self._tau_l) / self._tau_l * US_PER_DAY
        trend = rs / rl if rl > 0 else None
        days = max(0, now_us - s.last_us) / US_PER_DAY if s.count else float("inf")
        return UsageFeatures(rs, rl, trend, days, s.count, s.features.bit_count())
