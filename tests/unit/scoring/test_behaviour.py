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
