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

__all__ = ["RFM_SEGMENTS", "SEGMENT_NAMES", "US_PER_DAY", "FixedRFMScorer", "PurchaseSummary", "RFMScore", "segment_of"]

#: The 11 usual RFM segments, as stable codes (names are in :data:`SEGMENT_NAMES`).
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

SEGMENT_NAMES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "champions": "Champions",
        "loyal": "Loyal",
        "potential_loyalist": "Potential loyalist",
        "new": "New",
        "promising": "Promising",
        "need_attention": "Need attention",
        "about_to_sleep": "About to sleep",
        "at_risk": "At risk",
        "cannot_lose_them": "Cannot lose them",
        "hibernating": "Hibernating",
        "lost": "Lost",
    },
    "zh-CN": {
        "champions": "冠军客户",
        "loyal": "忠诚客户",
        "potential_loyalist": "潜在忠诚客户",
        "new": "新客户",
        "promising": "有潜力客户",
        "need_attention": "需要关注客户",
        "about_to_sleep": "即将沉睡客户",
        "at_risk": "有流失风险客户",
        "cannot_lose_them": "不能失去的客户",
        "hibernating": "休眠客户",
        "lost": "流失客户",
    },
}


class PurchaseSummary(msgspec.Struct, array_like=True, frozen=True):
    """What RFM needs of a customer's purchases. Adding is order-independent.

    >>> s = PurchaseSummary().add(ts_us=2 * US_PER_DAY, amount_minor=1999)
    >>> s = s.add(ts_us=1 * US_PER_DAY, amount_minor=501)  # arrives late: still counted
    >>> (s.count, s.spend_minor, s.first_us // US_PER_DAY, s.last_us // US_PER_DAY)
    (2, 2500, 1, 2)
    """

    first_us: int = 0
    last_us: int = 0
    count: int = 0
    spend_minor: int = 0

    def add(self, ts_us: int, amount_minor: int) -> PurchaseSummary:
        if self.count == 0:
            return PurchaseSummary(ts_us, ts_us, 1, amount_minor)
        return PurchaseSummary(
            min(self.first_us, ts_us),
            max(self.last_us, ts_us),
            self.count + 1,
            self.spend_minor + amount_minor,
        )


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
