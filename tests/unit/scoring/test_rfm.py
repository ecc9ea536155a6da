"""The columnar RFM naming rules at their boundaries (hand-picked days)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from segstream.scoring.rfm import recency_band

DAY = 86_400_000_000


def test_a_purchase_exactly_churn_days_ago_is_named_with_r_1_and_one_at_risk_days_ago_with_at_most_2() -> None:
    # at_risk 45, churn 90: days since the last purchase 44.99, 45, 89.99, 90 and 120
    now = 200 * DAY
    last = now - np.array([44.99 * DAY, 45 * DAY, 89.99 * DAY, 90 * DAY, 120 * DAY], dtype=np.int64)
    c = SimpleNamespace(now=np.full(5, now), p_last=last)
    assert recency_band(c, np.array([1, 5, 5, 5, 5]), at_risk_days=45, churn_days=90).tolist() == [3, 2, 2, 1, 1]
    assert recency_band(c, np.array([1, 1, 1, 1, 1]), 45, 90, binary=True).tolist() == [1, 1, 1, 0, 0]
