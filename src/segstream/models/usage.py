"""Usage intensity and trend: short- and long-horizon activity rates in event time, the
quantity and minutes of use per day, and which services were used lately."""

from __future__ import annotations

import math
import zlib
from typing import Final, NamedTuple

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
    units: float | None = None  # decayed sum of quantities, long half-life (None: every quantity was 1, as `long`)
    minutes: float | None = None  # decayed sum of durations in minutes, long half-life (None: no duration yet)
    services: list[tuple[int, int]] = msgspec.field(default_factory=list)  # (hash, last day used), newest last


class UsageFeatures(NamedTuple):
    rate_short: float  # events per day over the short horizon
    rate_long: float  # events per day over the long horizon
    trend: float | None  # rate_short / rate_long; < 1 means declining use
    days_since_last: float
    events: int
    distinct_features: int
    units_per_day: float  # quantity per day over the long horizon (each event's quantity, default 1)
    minutes_per_day: float  # minutes of use per day over the long horizon (from duration_s)
    services_30d: int  # distinct services used on one of the last 30 days (today included)


#: How many services a customer's state remembers (the least recently used is forgotten).
MAX_SERVICES: Final = 16
#: The window of :attr:`UsageFeatures.services_30d`, in days.
SERVICE_DAYS: Final = 30


def _feature_bit(name: str) -> int:
    return 1 << (zlib.crc32(name.encode("utf-8")) & 63)


def _used(services: list[tuple[int, int]], name: str, day: int) -> list[tuple[int, int]]:
    """The services list after using ``name`` on ``day`` (a late use never moves a day back).

    >>> s = _used([], "billing", 3)
    >>> s = _used(_used(s, "reports", 5), "billing", 4)
    >>> [d for _, d in s]   # oldest first; billing moved to its latest day
    [4, 5]
    """
    h = zlib.crc32(name.encode("utf-8"))
    out = [(k, d) for k, d in services if k != h]
    last = max((d for k, d in services if k == h), default=day)
    out.append((h, max(last, day)))
    out.sort(key=lambda kd: kd[1])  # oldest first: the first one is forgotten when full
    return out[-MAX_SERVICES:]


class UsageModel:
    """Decayed activity rates, their ratio as the trend, recency and breadth of use.

    Parameters
    ----------
    short_half_life_days
        Half-life of the short-horizon rate.
    long_half_life_days
        Half-life of the long-horizon rate.

    Each event counts once in the event rates (``rate_short``, ``rate_long``, the trend:
    what churn and lifecycle read, since a silence's surprise needs a count of events); its
    ``quantity`` and ``duration_s`` go into the weighted rates ``units_per_day`` and
    ``minutes_per_day`` (long horizon), and its ``service`` into the services used lately.

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
    >>> s = m.learn_one(None, 0, quantity=3, duration_s=600, service="billing")
    >>> s = m.learn_one(s, 0, quantity=1, duration_s=120, service="reports")
    >>> f = m.predict_one(s, now_us=0)   # a decayed sum of x is a rate of x * ln 2 / half-life per day
    >>> import math
    >>> round(f.units_per_day * m.long_half_life_days / math.log(2), 9), round(f.minutes_per_day * 28 / math.log(2), 9)
    (4.0, 12.0)
    >>> f.services_30d, m.predict_one(s, now_us=30 * US_PER_DAY).services_30d
    (2, 0)
    """

    def __init__(self, short_half_life_days: float = 7.0, long_half_life_days: float = 28.0) -> None:
        if short_half_life_days >= long_half_life_days:
            raise ValueError("the short half-life must be shorter than the long one")
        self.short_half_life_days = short_half_life_days
        self.long_half_life_days = long_half_life_days
        self._tau_s = decay.tau_us(short_half_life_days)
        self._tau_l = decay.tau_us(long_half_life_days)

    def learn_one(
        self,
        state: UsageState | None,
        ts_us: int,
        weight: float = 1.0,
        feature: str | None = None,
        *,
        quantity: float = 1.0,
        duration_s: float = 0.0,
        service: str | None = None,
    ) -> UsageState:
        s = state or UsageState()
        short, ref = decay.add(s.short, s.ref_us, weight, ts_us, self._tau_s)
        long, _ = decay.add(s.long, s.ref_us, weight, ts_us, self._tau_l)
        # stored only once they differ from what they would be by default (a byte, not nine)
        units = s.units
        if units is not None or quantity != 1.0:
            units, _ = decay.add(s.long if units is None else units, s.ref_us, quantity, ts_us, self._tau_l)
        minutes = s.minutes
        if minutes is not None or duration_s:
            minutes, _ = decay.add(minutes or 0.0, s.ref_us, duration_s / 60, ts_us, self._tau_l)
        bits = s.features | (_feature_bit(feature) if feature else 0)
        services = _used(s.services, service, ts_us // US_PER_DAY) if service else s.services
        return UsageState(short, long, ref, max(s.last_us, ts_us), s.count + 1, bits, units, minutes, services)

    def coverage(self, since_us: int | None, now_us: int) -> tuple[float, float]:
        """The share of a steady rate's decayed sum that a history begun at ``since_us``
        holds by ``now_us``, for the short and the long half-life: ``1 - exp(-tenure / tau)``
        (a tenure of at least one day; ``None``: a history as long as the horizons, 1).

        >>> m = UsageModel(short_half_life_days=7, long_half_life_days=28)
        >>> [round(v, 4) for v in m.coverage(0, 7 * US_PER_DAY)]    # one short half-life
        [0.5, 0.1591]
        >>> m.coverage(None, 0)
        (1.0, 1.0)
        """
        if since_us is None:
            return 1.0, 1.0
        tenure = max(US_PER_DAY, now_us - since_us)
        return -math.expm1(-tenure / self._tau_s), -math.expm1(-tenure / self._tau_l)

    def predict_one(self, state: UsageState | None, now_us: int, since_us: int | None = None) -> UsageFeatures:
        """The usage features as of ``now_us``. ``since_us``: when the customer's history
        began (its first event); the rates are then corrected for a history shorter than
        their horizon, as Adam corrects its moments: a decayed sum of a steady rate ``r``
        over a tenure ``u`` is ``r tau (1 - exp(-u / tau))``, so without the correction a
        new customer's long rate is a fraction of its true rate and its trend several times
        too high (four times at the start with half-lives of 7 and 28 days), which hides a
        new customer's fall into silence for weeks. ``None``: no correction."""
        s = state or UsageState()
        cs, cl = self.coverage(since_us, now_us)
        # a decayed sum of a steady rate r (per µs) tends to r * tau: rate = value / tau
        rs = decay.at(s.short, s.ref_us, now_us, self._tau_s) / (self._tau_s * cs) * US_PER_DAY
        rl = decay.at(s.long, s.ref_us, now_us, self._tau_l) / (self._tau_l * cl) * US_PER_DAY
        trend = rs / rl if rl > 0 else None
        days = max(0, now_us - s.last_us) / US_PER_DAY if s.count else float("inf")
        long = self._tau_l * cl / US_PER_DAY
        units = rl if s.units is None else decay.at(s.units, s.ref_us, now_us, self._tau_l) / long
        minutes = decay.at(s.minutes or 0.0, s.ref_us, now_us, self._tau_l) / long
        today = now_us // US_PER_DAY
        recent = sum(1 for _, day in s.services if today - SERVICE_DAYS < day <= today)
        return UsageFeatures(rs, rl, trend, days, s.count, s.features.bit_count(), units, minutes, recent)
