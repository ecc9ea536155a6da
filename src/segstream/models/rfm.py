"""Recency, frequency, monetary value: the per-customer summary and its 1-5 scoring.

Pure code: plain values in, plain values out. Time is event time in integer microseconds
since the epoch and money is integer minor units (cents), so sums are exact and a replay
gives the same numbers as a batch computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from segstream.models.decay import US_PER_DAY

__all__ = ["RFM_SEGMENTS", "US_PER_DAY", "FixedRFMScorer", "PurchaseSummary", "RFMScore", "segment_of"]

#: The 11 usual RFM segments, as stable codes (names are in :mod:`segstream.scoring.catalogue`).
RFM_SEGMENTS: Final = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose_them",
    "hibernating",
    "lost",
)


class PurchaseSummary(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What RFM and the purchase models need of a customer's purchases.

    ``count`` and ``spend_minor`` count every purchase (RFM); ``days`` counts distinct
    purchase days (UTC) and ``first_day_minor`` is the spend of the first purchase day:
    several purchases on one day are one transaction for BG/NBD and Gamma-Gamma, as in the
    literature. Adding is order-independent for RFM; for ``days`` a late purchase on a day
    between the first and the last one is taken as a new day (see docs/PROCESSING.md).

    >>> s = PurchaseSummary().add(ts_us=2 * US_PER_DAY, amount_minor=1999)
    >>> s = s.add(ts_us=1 * US_PER_DAY, amount_minor=501)  # arrives late: still counted
    >>> s = s.add(ts_us=2 * US_PER_DAY + 3600 * 10**6, amount_minor=1000)  # same day: one transaction
    >>> (s.count, s.spend_minor, s.first_us // US_PER_DAY, s.last_us // US_PER_DAY, s.days, s.first_day_minor)
    (3, 3500, 1, 2, 2, 501)
    """

    first_us: int = 0
    last_us: int = 0
    count: int = 0
    spend_minor: int = 0
    days: int = 0  # distinct purchase days (0 in records written before it existed: use count)
    first_day_minor: int = 0  # spend on the first purchase day

    def add(self, ts_us: int, amount_minor: int) -> PurchaseSummary:
        if self.count == 0:
            return PurchaseSummary(ts_us, ts_us, 1, amount_minor, 1, amount_minor)
        day, first_day, last_day = ts_us // US_PER_DAY, self.first_us // US_PER_DAY, self.last_us // US_PER_DAY
        days, first_day_minor = self.days or self.count, self.first_day_minor
        if day < first_day:
            days, first_day_minor = days + 1, amount_minor
        elif day == first_day:
            first_day_minor += amount_minor
        elif day != last_day:
            days += 1
        return PurchaseSummary(
            min(self.first_us, ts_us),
            max(self.last_us, ts_us),
            self.count + 1,
            self.spend_minor + amount_minor,
            days,
            first_day_minor,
        )

    def repeat_history(self, now_us: int, unit_days: float = 7.0) -> tuple[int, float, float, float]:
        """``(x, t_x, T, m_x)`` of BG/NBD and Gamma-Gamma as of ``now_us``: repeat
        transactions (purchase days after the first), the last one's time and the age, both
        from the first purchase day in ``unit_days`` (whole days, like the CDNOW summaries),
        and the mean value of the repeat transactions (major units; 0 without repeats).

        >>> s = PurchaseSummary().add(0, 1000).add(14 * US_PER_DAY, 3000).add(28 * US_PER_DAY, 5000)
        >>> s.repeat_history(now_us=35 * US_PER_DAY)
        (2, 4.0, 5.0, 40.0)
        """
        first_day = self.first_us // US_PER_DAY
        x = (self.days or self.count) - 1
        t_x = (self.last_us // US_PER_DAY - first_day) / unit_days if x else 0.0
        age = max(0, now_us // US_PER_DAY - first_day) / unit_days
        m_x = (self.spend_minor - self.first_day_minor) / 100 / x if x else 0.0
        return x, t_x, max(age, t_x), m_x


@dataclass(frozen=True, slots=True)
class RFMScore:
    r: int
    f: int
    m: int
    segment: str

    @property
    def fm(self) -> int:
        """The F and M scores combined (mean, halves rounded up)."""
        return (self.f + self.m + 1) // 2


def segment_of(r: int, fm: int) -> str:
    """The named segment of a recency score and a combined frequency-monetary score.

    Every (r, fm) in 1..5 x 1..5 has exactly one segment:

    >>> segment_of(5, 5), segment_of(5, 1), segment_of(1, 5), segment_of(1, 1)
    ('champions', 'new', 'cannot_lose_them', 'lost')
    """
    if not (1 <= r <= 5 and 1 <= fm <= 5):
        raise ValueError(f"scores must be in 1..5, got r={r} fm={fm}")
    if r >= 4:
        return ("promising" if r == 4 else "new", "potential_loyalist", "loyal", "champions", "champions")[fm - 1]
    if r == 3:
        return ("about_to_sleep", "need_attention", "loyal", "loyal", "loyal")[fm - 1]
    if r == 2:
        return "hibernating" if fm <= 2 else "at_risk"
    return ("lost", "lost", "at_risk", "cannot_lose_them", "cannot_lose_them")[fm - 1]


def _score_up(value: float, thresholds: tuple[float, ...]) -> int:
    """1 + the number of thresholds ``value`` reaches (higher value, higher score)."""
    return 1 + sum(value >= t for t in thresholds)


class FixedRFMScorer:
    """Score R, F and M from 1 to 5 against fixed thresholds.

    Parameters
    ----------
    recency_days
        Four ascending day counts: a customer whose last purchase is at most
        ``recency_days[0]`` days before "now" scores R=5, at most ``recency_days[3]`` R=2,
        older R=1.
    frequency
        Four ascending purchase counts at which F reaches 2, 3, 4 and 5.
    monetary
        Four ascending total-spend amounts (minor units) at which M reaches 2, 3, 4, 5.

    Examples
    --------
    >>> scorer = FixedRFMScorer()
    >>> s = PurchaseSummary().add(0, 30_000).add(US_PER_DAY, 30_000)
    >>> scorer.score_one(s, now_us=10 * US_PER_DAY)
    RFMScore(r=5, f=2, m=5, segment='champions')
    >>> scorer.score_one(s, now_us=400 * US_PER_DAY).segment
    'cannot_lose_them'
    """

    def __init__(
        self,
        recency_days: tuple[float, float, float, float] = (30, 60, 120, 240),
        frequency: tuple[int, int, int, int] = (2, 3, 5, 10),
        monetary: tuple[int, int, int, int] = (5_000, 10_000, 25_000, 50_000),
    ) -> None:
        for name, t in (("recency_days", recency_days), ("frequency", frequency), ("monetary", monetary)):
            if len(t) != 4 or list(t) != sorted(t):
                raise ValueError(f"{name} needs four ascending thresholds, got {t!r}")
        self.recency_days = recency_days
        self.frequency = frequency
        self.monetary = monetary

    def score_one(self, summary: PurchaseSummary, now_us: int) -> RFMScore:
        """Score one customer's summary as of event time ``now_us``."""
        if summary.count == 0:
            raise ValueError("a customer without purchases has no RFM score")
        days = max(0, now_us - summary.last_us) / US_PER_DAY
        r = 5 - sum(days > t for t in self.recency_days)
        f = _score_up(summary.count, self.frequency)
        m = _score_up(summary.spend_minor, self.monetary)
        score = RFMScore(r, f, m, "")
        return RFMScore(r, f, m, segment_of(r, score.fm))


# ----------------------------------------------------------------- population-relative scoring

#: Histogram metrics of the purchase summary: (name, exact_up_to). ``l`` is the day of the
#: last purchase, ``f`` the purchase count, ``m`` the total spend in minor units.
RFM_METRICS: Final = (("l", 10**9), ("f", 1_000), ("m", 1_000_000))

CN8_SEGMENTS: Final = {
    (1, 1, 1): "important_value",
    (1, 0, 1): "important_development",
    (0, 1, 1): "important_retention",
    (0, 0, 1): "important_winback",
    (1, 1, 0): "general_value",
    (1, 0, 0): "general_development",
    (0, 1, 0): "general_retention",
    (0, 0, 0): "general_winback",
}


def metric_values(s: PurchaseSummary) -> dict[str, int]:
    """The summary's value of each histogram metric."""
    return {"l": s.last_us // US_PER_DAY, "f": s.count, "m": s.spend_minor}


class RFMSnapshot(msgspec.Struct, frozen=True):
    """Population boundaries every worker scores with (published by one place at a time).

    ``last_day_cuts`` are the quantiles of the last-purchase day at 0.8, 0.6, 0.4, 0.2
    (the recency quintile edges seen from the other side); ``f_edges`` and ``m_edges``
    the quantiles of purchase count and spend at 0.2, 0.4, 0.6, 0.8.
    """

    version: int
    customers: int
    last_day_cuts: list[float]
    f_edges: list[float]
    m_edges: list[float]
    mean_last_day: float
    mean_f: float
    mean_m: float

    @classmethod
    def from_histograms(cls, version: int, hists: dict[str, dict[int, int]]) -> RFMSnapshot:
        from segstream.models.quantiles import mean, quantiles

        exact = dict(RFM_METRICS)
        n = sum(hists.get("f", {}).values())
        return cls(
            version=version,
            customers=n,
            last_day_cuts=quantiles(hists.get("l", {}), [0.8, 0.6, 0.4, 0.2], exact["l"]),
            f_edges=quantiles(hists.get("f", {}), [0.2, 0.4, 0.6, 0.8], exact["f"]),
            m_edges=quantiles(hists.get("m", {}), [0.2, 0.4, 0.6, 0.8], exact["m"]),
            mean_last_day=mean(hists.get("l", {}), exact["l"]),
            mean_f=mean(hists.get("f", {}), exact["f"]),
            mean_m=mean(hists.get("m", {}), exact["m"]),
        )


def settle(previous: RFMSnapshot | None, new: RFMSnapshot, margin: float, margin_days: float) -> RFMSnapshot:
    """``new`` with each list of edges kept as ``previous`` had it while no edge of the list
    moved by more than ``margin`` (relative, frequency and spend) or ``margin_days``
    (recency): quantiles of a growing population jitter from one publication to the next,
    and every jitter would move the customers on an edge back and forth (docs/SEGMENTS.md).

    >>> old = RFMSnapshot(1, 100, [50, 40, 30, 20], [1, 2, 3, 5], [1000, 2000, 5000, 9000], 35, 3, 4000)
    >>> new = RFMSnapshot(2, 104, [51, 41, 31, 21], [1, 2, 3, 5], [1040, 2000, 5000, 9400], 36, 3, 4100)
    >>> s = settle(old, new, margin=0.05, margin_days=2)
    >>> s.version, s.customers, s.last_day_cuts, s.m_edges
    (2, 104, [50, 40, 30, 20], [1000, 2000, 5000, 9000])
    >>> settle(old, new, margin=0.03, margin_days=0.5).m_edges  # 9000 -> 9400 is more than 3%
    [1040, 2000, 5000, 9400]
    """
    if previous is None:
        return new

    def kept(was: list[float], now: list[float], days: bool) -> list[float]:
        """``was`` while no edge moved past its tolerance, else ``now``."""
        near = len(was) == len(now) and all(
            abs(x - y) <= (margin_days if days else margin * abs(x)) for x, y in zip(was, now, strict=True)
        )
        return was if near else now

    p, n = previous, new
    (mean_last_day,), (mean_f,), (mean_m,) = (
        kept([p.mean_last_day], [n.mean_last_day], True), kept([p.mean_f], [n.mean_f], False),
        kept([p.mean_m], [n.mean_m], False),
    )  # fmt: skip
    return msgspec.structs.replace(
        new,
        last_day_cuts=kept(p.last_day_cuts, n.last_day_cuts, True),
        f_edges=kept(p.f_edges, n.f_edges, False),
        m_edges=kept(p.m_edges, n.m_edges, False),
        mean_last_day=mean_last_day,
        mean_f=mean_f,
        mean_m=mean_m,
    )


class QuintileRFMScorer:
    """Score R, F and M 1-5 by quintiles of the current population (an :class:`RFMSnapshot`).

    Bins are right-closed like ``pandas.qcut``: a value equal to an edge takes the lower
    score. Recency is scored in whole days.

    Examples
    --------
    >>> snap = RFMSnapshot(1, 100, [50, 40, 30, 20], [1, 2, 3, 5], [1000, 2000, 5000, 9000], 35, 3, 4000)
    >>> s = PurchaseSummary().add(45 * US_PER_DAY, 9500).add(44 * US_PER_DAY, 0)
    >>> QuintileRFMScorer(snap).score_one(s, now_us=60 * US_PER_DAY)
    RFMScore(r=4, f=2, m=5, segment='champions')
    """

    def __init__(self, snapshot: RFMSnapshot) -> None:
        self.snapshot = snapshot

    def score_one(self, summary: PurchaseSummary, now_us: int) -> RFMScore:
        if summary.count == 0:
            raise ValueError("a customer without purchases has no RFM score")
        v = metric_values(summary)
        snap = self.snapshot
        r = 5 - sum(v["l"] < c for c in snap.last_day_cuts)
        f = 1 + sum(v["f"] > e for e in snap.f_edges)
        m = 1 + sum(v["m"] > e for e in snap.m_edges)
        return RFMScore(r, f, m, segment_of(r, (f + m + 1) // 2))


class MeanRFMScorer:
    """The 8-class scheme of Chinese CRM practice: R, F, M each high or low against the
    population mean (recency high = more recent than average).

    >>> snap = RFMSnapshot(1, 100, [0] * 4, [0] * 4, [0] * 4, mean_last_day=30, mean_f=2, mean_m=5000)
    >>> s = PurchaseSummary().add(40 * US_PER_DAY, 9000)
    >>> MeanRFMScorer(snap).score_one(s, now_us=50 * US_PER_DAY).segment
    'important_development'
    """

    def __init__(self, snapshot: RFMSnapshot) -> None:
        self.snapshot = snapshot

    def score_one(self, summary: PurchaseSummary, now_us: int) -> RFMScore:
        if summary.count == 0:
            raise ValueError("a customer without purchases has no RFM score")
        v = metric_values(summary)
        snap = self.snapshot
        r, f, m = int(v["l"] > snap.mean_last_day), int(v["f"] > snap.mean_f), int(v["m"] > snap.mean_m)
        return RFMScore(r, f, m, CN8_SEGMENTS[(r, f, m)])
