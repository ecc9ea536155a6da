"""Usage and satisfaction features of a whole batch (the columnar form of
:meth:`segstream.models.usage.UsageModel.predict_one` and
:meth:`segstream.models.satisfaction.SatisfactionModel.predict_one`).

The satisfaction level and trend need no model parameters here: each is a ratio of two
sums the state decays alike, so the decay to "now" cancels out.

Absent values are NaN (a customer without usage has no trend); ``usage_days`` is +inf
for a customer who never used the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstream.models.decay import US_PER_DAY
from segstream.models.usage import UsageModel
from segstream.scoring.columns import F64, I64, Columns, Mask


@dataclass(slots=True)
class Activity:
    rate_short: F64  # usage events per day, short horizon
    rate_long: F64
    trend: F64  # rate_short / rate_long; NaN without a long rate
    usage_days: F64  # days since the last use; inf: never
    level: F64  # satisfaction 0..1, long horizon; NaN: no score yet
    sat_trend: F64  # short minus long level; NaN: either missing
    nps: I64  # latest NPS answer, -1: none
    open_complaints: I64
    severity: F64  # mean severity of the rated complaints (1-5); NaN: none rated
    used: Mask  # has used the product at least once
    has_f: Mask


def _decayed(value: F64, ref: I64, now: I64, tau: float) -> F64:
    return value * np.exp(-np.maximum(0, now - ref) / tau)  # type: ignore[no-any-return]


def activity(c: Columns, usage: UsageModel) -> Activity:
    with np.errstate(all="ignore"):
        # corrected for a history shorter than the horizon (UsageModel.predict_one, since_us)
        tenure = np.maximum(US_PER_DAY, c.now - c.first_us)
        cs, cl = -np.expm1(-tenure / usage._tau_s), -np.expm1(-tenure / usage._tau_l)
        rs = _decayed(c.u_short, c.u_ref, c.now, usage._tau_s) / (usage._tau_s * cs) * US_PER_DAY
        rl = _decayed(c.u_long, c.u_ref, c.now, usage._tau_l) / (usage._tau_l * cl) * US_PER_DAY
        trend = np.where(rl > 0, rs / rl, np.nan)
        days = np.where(c.u_count > 0, np.maximum(0, c.now - c.u_last) / US_PER_DAY, np.inf)
        level = np.where(c.f_den_l > 0, c.f_num_l / c.f_den_l, np.nan)
        short = np.where(c.f_den_s > 0, c.f_num_s / c.f_den_s, np.nan)
        severity = np.where(c.f_severity_n > 0, c.f_severity_sum / c.f_severity_n, np.nan)
    return Activity(
        rate_short=rs,
        rate_long=rl,
        trend=trend,
        usage_days=days,
        level=level,
        sat_trend=short - level,
        nps=c.f_nps,
        open_complaints=np.maximum(0, c.f_complaints - c.f_resolved),
        severity=severity,
        used=c.has_u & (c.u_count > 0),
        has_f=c.has_f,
    )
