"""The per-customer behaviour vector, written out plainly from the models' own
``predict_one``: the independent reference the columnar form
(:func:`segstream.scoring.behaviour.behaviour_matrix`) is checked against."""

from __future__ import annotations

import math

from segstream.models.decay import US_PER_DAY
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState


def behaviour_vector(st: CustomerState, now: int, models: Models) -> list[float]:
    """The customer's behaviour in :data:`segstream.models.clusters.FEATURES` order.

    Rates, not totals, so that a customer's cluster says how it behaves rather than how
    long it has been a customer: spend is the mean order value, frequency the purchases
    per 30 days of tenure (at least 30 days of it), usage the long-horizon rate; all log-scaled.
    """
    p = st.purchases
    tenure_days = max(30.0, (now - st.first_us) / US_PER_DAY)
    aov, per_month = (p.spend_minor / 100 / p.count, p.count * 30 / tenure_days) if p else (0.0, 0.0)
    since = max(0, now - (p.last_us if p else st.first_us)) / US_PER_DAY
    rate, trend = 0.0, 0.0
    if st.usage:
        u = models.usage.predict_one(st.usage, now, st.first_us)
        rate = u.rate_long
        trend = max(-3.0, min(3.0, math.log(u.trend))) if u.trend else -3.0
    level = models.satisfaction.predict_one(st.feedback, now).level if st.feedback else None
    # the purchase mix model's share of orders on a discount or coupon (none named: 0)
    mix = models.mix.predict_one(st.mix, p.count, p.spend_minor) if p and st.mix else None
    return [
        math.log1p(aov), math.log1p(per_month), math.log1p(since), math.log1p(rate), trend,
        0.5 if level is None else level, (mix.discount_share or 0.0) if mix else 0.0,
    ]  # fmt: skip
