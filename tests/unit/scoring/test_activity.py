"""Usage and satisfaction features of a batch, on hand-built customers."""

from __future__ import annotations

from segstream.models.usage import UsageModel
from segstream.scoring.activity import activity
from segstream.scoring.columns import Columns
from segstream.state.customer import CustomerState

DAY = 86_400_000_000


def test_a_customer_with_one_usage_event_has_used_the_product() -> None:
    model = UsageModel()
    once = CustomerState(first_us=DAY, last_us=DAY, usage=model.learn_one(None, DAY))
    never = CustomerState(first_us=DAY, last_us=DAY)
    act = activity(Columns.of([once, never], [3 * DAY, 3 * DAY]), model)
    assert act.used.tolist() == [True, False]
    assert act.usage_days[0] == 2.0 and act.usage_days[1] == float("inf")
