"""Which behaviour parts a customer has."""

from __future__ import annotations

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
