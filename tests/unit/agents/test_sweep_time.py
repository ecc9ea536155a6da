"""The due-time sweep scores each silent customer as of the event time it was due at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from segstream.agents.step import StepResult, rescore
from segstream.models.bgnbd import BGNBDParams
from segstream.models.decay import US_PER_DAY
from segstream.models.rfm import PurchaseSummary
from segstream.models.value import ValueSnapshot
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.codec import to_us
from segstream.streams.schemas import SegmentChange

T0 = datetime(2024, 1, 1, tzinfo=UTC)
D = US_PER_DAY


def at(day: float) -> int:
    return to_us(T0) + int(day * D)


def stored(*purchase_days: float, version: int = 1) -> Loaded:
    """A stored customer with one purchase of 20.00 on each of ``purchase_days``."""
    summary = PurchaseSummary()
    for day in purchase_days:
        summary = summary.add(at(day), 2000)
    st = CustomerState(first_us=at(min(purchase_days)), last_us=at(max(purchase_days)), purchases=summary)
    return Loaded(version, st)


def changes(result: StepResult, dimension: str) -> dict[str, SegmentChange]:
    return {c.customer_id: c for c in result.outputs if c.dimension == dimension}


def test_silent_customer_due_at_the_at_risk_time_is_at_risk_even_when_the_clock_is_far_later() -> None:
    loaded = {"a": stored(0)}
    result = rescore(loaded, {"a": at(45)}, now=at(200), models=Models())
    change = changes(result, "lifecycle")["a"]
    assert change.to_segment == "at_risk"  # as of day 200 it would be "churned"
    assert change.ts == T0 + timedelta(days=45)
    assert change.event_id == f"sweep-{at(45)}-lifecycle"
    [item] = result.items
    assert item.due_us == at(52)  # the weekly re-score from the due time, not from the clock


def test_every_output_of_a_swept_customer_is_stamped_with_its_due_time() -> None:
    loaded = {"a": stored(0), "b": stored(10)}
    result = rescore(loaded, {"a": at(45), "b": at(100)}, now=at(300), models=Models())
    stamps = {(c.customer_id, c.ts) for c in result.outputs}
    assert stamps == {("a", T0 + timedelta(days=45)), ("b", T0 + timedelta(days=100))}
    assert {cid: c.to_segment for cid, c in changes(result, "lifecycle").items()} == {"a": "at_risk", "b": "churned"}


def test_due_time_before_the_last_event_means_a_full_rescore_as_of_the_clock() -> None:
    loaded = {"a": stored(0, 50)}
    result = rescore(loaded, {"a": at(30)}, now=at(100), models=Models())
    change = changes(result, "lifecycle")["a"]
    assert change.ts == T0 + timedelta(days=100)
    assert change.to_segment == "at_risk"  # 50 days silent as of the clock
    assert result.items[0].due_us == at(107)


def test_customer_without_a_due_time_is_scored_as_of_the_clock() -> None:
    result = rescore({"a": stored(0)}, {}, now=at(20), models=Models())
    assert {c.ts for c in result.outputs} == {T0 + timedelta(days=20)}


def test_due_time_after_the_clock_is_scored_as_of_the_clock() -> None:
    result = rescore({"a": stored(0)}, {"a": at(60)}, now=at(50), models=Models())
    assert changes(result, "lifecycle")["a"].ts == T0 + timedelta(days=50)


def test_customer_that_is_no_longer_stored_is_not_scored() -> None:
    result = rescore({"gone": stored(0, version=0)}, {"gone": at(45)}, now=at(50), models=Models())
    assert result.items == [] and result.outputs == [] and result.churn_events == []


def test_silent_customer_enters_high_churn_risk_at_its_due_time() -> None:
    bg = BGNBDParams(0.243, 4.414, 0.793, 2.426, -9000.0, 2357, True)
    models = Models(value_snapshot=ValueSnapshot(1, 0, "", 2357, bg, None, [10.0, 30.0, 100.0], 0))
    loaded = {"a": stored(0)}
    rescore(loaded, {"a": at(0)}, now=at(0), models=models)  # a new one-time buyer: normal risk
    assert loaded["a"].state.outlook is not None and not loaded["a"].state.outlook.high
    result = rescore(loaded, {"a": at(60)}, now=at(365), models=models)
    [event] = result.churn_events
    assert (event.level, event.ts, event.event_id) == ("high", T0 + timedelta(days=60), f"sweep-{at(60)}-churn")
    assert loaded["a"].state.outlook is not None and loaded["a"].state.outlook.changed_us == at(60)
