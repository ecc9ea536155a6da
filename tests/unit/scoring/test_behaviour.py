"""Which behaviour parts a customer has."""

from __future__ import annotations

import pytest

from segstream.models.usage import UsageModel
from segstream.state.customer import CustomerState

DAY = 86_400_000_000


def test_parts_of_a_customer_name_each_behaviour_part_it_has() -> None:
    from segstream.models.satisfaction import FeedbackState
    from segstream.scoring.behaviour import parts_of

    assert parts_of(CustomerState(feedback=FeedbackState(nps=9))) == {"feedback"}
    assert parts_of(CustomerState(usage=UsageModel().learn_one(None, DAY))) == {"usage"}
    assert parts_of(CustomerState()) == frozenset()


def test_a_steady_usage_trend_of_exactly_one_is_a_log_trend_of_zero_not_the_floor() -> None:
    import dataclasses

    import numpy as np

    from segstream.scoring.activity import activity
    from segstream.scoring.behaviour import behaviour_matrix
    from segstream.scoring.columns import Columns

    st = CustomerState(first_us=DAY, last_us=DAY, usage=UsageModel().learn_one(None, DAY))
    cols = Columns.of([st], [3 * DAY])
    act = activity(cols, UsageModel())
    for trend, expected in ((1.0, 0.0), (np.e, 1.0), (0.0, -3.0), (np.nan, -3.0)):
        x = behaviour_matrix(cols, dataclasses.replace(act, trend=np.array([trend])))
        assert x[0, 4] == expected  # column 4: log of the usage trend, clipped to [-3, 3]; -3 without one


def test_the_purchase_rate_counts_a_tenure_of_at_least_thirty_days() -> None:
    import math

    from segstream.models.rfm import PurchaseSummary
    from segstream.scoring.behaviour import behaviours
    from segstream.scoring.models import Models

    # two orders on days 0 and 2: 2 per 30 days until the customer is 30 days old, however
    # young it is (not 2 x 30 / 5 = 12 on day 5, falling every day without an event)
    st = CustomerState(first_us=0, last_us=2 * DAY, purchases=PurchaseSummary().add(0, 1000).add(2 * DAY, 1000))
    freq = [float(behaviours([st], d * DAY, Models())[0, 1]) for d in (3, 5, 20, 30, 60, 120)]
    assert freq[:4] == pytest.approx([math.log1p(2.0)] * 4, rel=1e-12)
    assert freq[4:] == pytest.approx([math.log1p(1.0), math.log1p(0.5)], rel=1e-12)  # 2 x 30 / 60, 2 x 30 / 120
