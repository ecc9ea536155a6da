"""Satisfaction and loyalty from feedback: level, trend, NPS class, open complaints and
their severity (a complaint's ``score``: 1 minor .. 5 severe, optional)."""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec

from segstream.models import decay
from segstream.models.decay import US_PER_DAY

#: Bounded copy of a complaint's text kept in the state (the full text stays in Kafka).
MAX_TEXT: Final = 80


class FeedbackState(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Learned feedback state of one customer (times in µs of event time)."""

    num_s: float = 0.0  # decayed sum of normalised scores, short half-life
    den_s: float = 0.0  # decayed sum of weights, short half-life
    num_l: float = 0.0
    den_l: float = 0.0
    ref_us: int = 0
    nps: int = -1  # latest NPS answer (-1: none)
    nps_us: int = 0
    complaints: int = 0  # opened
    resolved: int = 0
    complaint_us: int = 0  # last complaint opened
    complaint_text: str = ""
    severity_sum: int = 0  # severities (1-5) of the complaints that gave one
    severity_n: int = 0  # how many gave one


class SatisfactionFeatures(NamedTuple):
    level: float | None  # 0 (very unhappy) .. 1 (very happy), long horizon
    trend: float | None  # short-horizon level minus long-horizon level
    nps_class: str | None  # promoter / passive / detractor, from the latest NPS answer
    open_complaints: int
    days_since_complaint: float | None
    complaint_severity: float | None = None  # mean severity (1-5) of the complaints that gave one


#: Severity of a complaint that gives none: the middle of the 1-5 scale, so that an open
#: complaint without a severity weighs what every complaint weighed before severities.
DEFAULT_SEVERITY: Final = 3.0


def nps_class(score: float) -> str:
    """NPS class of a 0-10 answer.

    >>> [nps_class(s) for s in (0, 6, 7, 8, 9, 10)]
    ['detractor', 'detractor', 'passive', 'passive', 'promoter', 'promoter']
    """
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


def normalised(kind: str, score: float) -> float | None:
    """A score on 0..1: NPS 0-10, CSAT and reviews 1-5; other kinds have none.

    >>> normalised("nps", 10), normalised("csat", 1), normalised("review", 4)
    (1.0, 0.0, 0.75)
    """
    if kind == "nps":
        return score / 10
    if kind in ("csat", "review"):
        return (score - 1) / 4
    return None


class SatisfactionModel:
    """Decayed mean satisfaction over a short and a long horizon, NPS class, complaints.

    Parameters
    ----------
    short_half_life_days, long_half_life_days
        Half-lives of the two decayed means; their difference is the trend.

    Examples
    --------
    >>> m = SatisfactionModel(short_half_life_days=30, long_half_life_days=180)
    >>> s = m.learn_one(None, 0, "nps", 9)
    >>> s = m.learn_one(s, 100 * US_PER_DAY, "csat", 2)
    >>> s = m.learn_one(s, 101 * US_PER_DAY, "complaint", None, text="late delivery")
    >>> f = m.predict_one(s, now_us=101 * US_PER_DAY)
    >>> f.nps_class, f.open_complaints, f.trend < 0
    ('promoter', 1, True)
    >>> m.predict_one(m.learn_one(s, 102 * US_PER_DAY, "complaint_resolved", None), 0).open_complaints
    0
    >>> s = m.learn_one(m.learn_one(s, 103 * US_PER_DAY, "complaint", 5), 104 * US_PER_DAY, "complaint", 2)
    >>> m.predict_one(s, 0).complaint_severity   # the first complaint gave no severity
    3.5
    """

    def __init__(self, short_half_life_days: float = 30.0, long_half_life_days: float = 180.0) -> None:
        if short_half_life_days >= long_half_life_days:
            raise ValueError("the short half-life must be shorter than the long one")
        self.short_half_life_days = short_half_life_days
        self.long_half_life_days = long_half_life_days
        self._tau_s = decay.tau_us(short_half_life_days)
        self._tau_l = decay.tau_us(long_half_life_days)

    def learn_one(
        self, state: FeedbackState | None, ts_us: int, kind: str, score: float | None, text: str | None = None
    ) -> FeedbackState:
        s = state or FeedbackState()
        x = normalised(kind, score) if score is not None else None
        if x is not None:
            num_s, ref = decay.add(s.num_s, s.ref_us, x, ts_us, self._tau_s)
            den_s, _ = decay.add(s.den_s, s.ref_us, 1.0, ts_us, self._tau_s)
            num_l, _ = decay.add(s.num_l, s.ref_us, x, ts_us, self._tau_l)
            den_l, _ = decay.add(s.den_l, s.ref_us, 1.0, ts_us, self._tau_l)
            s = msgspec.structs.replace(s, num_s=num_s, den_s=den_s, num_l=num_l, den_l=den_l, ref_us=ref)
        if kind == "nps" and score is not None and ts_us >= s.nps_us:
            s = msgspec.structs.replace(s, nps=round(score), nps_us=ts_us)
        if kind == "complaint":
            newer = ts_us >= s.complaint_us
            rated = score is not None
            s = msgspec.structs.replace(
                s,
                complaints=s.complaints + 1,
                complaint_us=max(s.complaint_us, ts_us),
                complaint_text=(text or "")[:MAX_TEXT] if newer else s.complaint_text,
                severity_sum=s.severity_sum + (round(score) if score is not None else 0),
                severity_n=s.severity_n + rated,
            )
        elif kind == "complaint_resolved":
            s = msgspec.structs.replace(s, resolved=s.resolved + 1)
        return s

    def predict_one(self, state: FeedbackState | None, now_us: int) -> SatisfactionFeatures:
        s = state or FeedbackState()
        level = s.num_l / s.den_l if s.den_l > 0 else None
        short = s.num_s / s.den_s if s.den_s > 0 else None
        trend = short - level if short is not None and level is not None else None
        since = max(0, now_us - s.complaint_us) / US_PER_DAY if s.complaints else None
        return SatisfactionFeatures(
            level,
            trend,
            nps_class(s.nps) if s.nps >= 0 else None,
            max(0, s.complaints - s.resolved),
            since,
            s.severity_sum / s.severity_n if s.severity_n else None,
        )
