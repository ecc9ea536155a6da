"""The behaviour vectors of a whole batch, in :data:`segstream.models.clusters.FEATURES`
order: mean order value, purchases per 30 days of tenure (a tenure of at least
:data:`MIN_TENURE_DAYS`), days since the last purchase
(or since the first event), the long-horizon usage rate and its trend, the satisfaction
level, the share of orders on a discount or coupon; all log-scaled where they are open-ended.

Rates, not totals, so that a customer's cluster says how it behaves rather than how long
it has been a customer. Clusters are learned (the leader) and assigned (every batch) from
these same vectors."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Final

import numpy as np

from segstream.models.clusters import FEATURES, ClusterSnapshot, standouts
from segstream.models.decay import US_PER_DAY
from segstream.scoring import catalogue
from segstream.scoring.activity import Activity, activity
from segstream.scoring.columns import F64, Columns, Mask
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState

#: The purchase rate counts a tenure of at least this many days: a customer's first weeks
#: would otherwise extrapolate one or two orders into a high monthly rate that falls every
#: day without any event, and a customer near a cluster boundary would cross it and come
#: back on its next order (docs/SEGMENTS.md, "The clusters' speed limit").
MIN_TENURE_DAYS: Final = 30.0


def behaviour_matrix(c: Columns, a: Activity) -> F64:
    """n x 7 matrix of the batch's behaviour vectors."""
    tenure = np.maximum(MIN_TENURE_DAYS, (c.now - c.first_us) / US_PER_DAY)
    count = np.maximum(c.p_count, 1)
    aov = np.where(c.has_p, c.p_spend / 100 / count, 0.0)
    per_month = np.where(c.has_p, c.p_count * 30 / tenure, 0.0)
    since = np.maximum(0, c.now - np.where(c.has_p, c.p_last, c.first_us)) / US_PER_DAY
    rate = np.where(c.has_u, a.rate_long, 0.0)
    with np.errstate(all="ignore"):
        logged = np.clip(np.log(a.trend), -3.0, 3.0)
    trend = np.where(c.has_u, np.where(~np.isnan(a.trend) & (a.trend != 0), logged, -3.0), 0.0)
    level = np.where(c.has_f & np.isfinite(a.level), a.level, 0.5)
    # orders on a discount or coupon among all orders (purchases applied before the mix
    # existed count as undiscounted, as models/mix.py says); 0 without purchases
    discount = np.clip(c.p_discounted / count, 0.0, 1.0)
    return np.column_stack(
        [np.log1p(aov), np.log1p(per_month), np.log1p(since), np.log1p(rate), trend, level, discount]
    )


def behaviours(states: Sequence[CustomerState], now_us: int, models: Models) -> F64:
    """n x 7 matrix of these customers' behaviour vectors as of ``now_us``."""
    cols = Columns.of(states, [now_us] * len(states))
    return behaviour_matrix(cols, activity(cols, models.usage))


#: The cluster "segment" of a customer with neither purchases nor usage: its behaviour
#: vector would be all defaults, and the nearest centre would describe what it never did.
INSUFFICIENT: Final = "insufficient"

#: The state part each behaviour feature is read from.
FEATURE_PART: Final = dict(
    zip(FEATURES, ("purchases", "purchases", "purchases", "usage", "usage", "feedback", "purchases"), strict=True)
)


def enough_data(c: Columns) -> Mask:
    """Customers with a behaviour to cluster: some purchase or some use."""
    return c.has_p | c.has_u


def parts_of(st: CustomerState) -> frozenset[str]:
    """The behaviour parts a customer has (names of :data:`FEATURE_PART`'s values)."""
    have = {"purchases": st.purchases, "usage": st.usage, "feedback": st.feedback}
    return frozenset(k for k, v in have.items() if v)


def cluster_name(snap: ClusterSnapshot, cluster_id: int, language: str, parts: Container[str]) -> str:
    """A cluster's description as one of its customers reads it: words only about the
    behaviour parts that customer has (no "heavy user" for a customer who never used the
    product, no "recent" for one who never bought); the cluster's own description when
    it has them all.

    >>> snap = ClusterSnapshot(1, [7], [[1.2, 0.0, -0.9, 0.8, 0.0, 0.0]], [0.0] * 6, [1.0] * 6,
    ...                        {"en": ["large orders, recent, heavy user"]}, 8, 100)
    >>> cluster_name(snap, 7, "en", {"purchases", "usage", "feedback"})
    'large orders, recent, heavy user'
    >>> cluster_name(snap, 7, "en", {"purchases"}), cluster_name(snap, 7, "en", {"usage"})
    ('large orders, recent', 'heavy user')
    """
    center = snap.centers[snap.ids.index(cluster_id)]
    wanted = [FEATURE_PART[f] in parts for f in FEATURES[: len(center)]]  # an older snapshot: its features
    if all(wanted):
        return snap.description(cluster_id, language)
    return catalogue.traits(standouts([v if w else 0.0 for v, w in zip(center, wanted, strict=True)]), language)
