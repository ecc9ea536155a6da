"""The worker feeds its scores and the events it applies to its grader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from segstream.agents.grading import Grading
from segstream.agents.step import apply_events, positioned
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.schemas import Purchase, Usage

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def purchase(cid: str, day: float) -> Purchase:
    return Purchase(event_id=f"{cid}-{day}", customer_id=cid, ts=T0 + timedelta(days=day), amount=10.0)


def use(cid: str, day: float) -> Usage:
    return Usage(event_id=f"u{cid}-{day}", customer_id=cid, ts=T0 + timedelta(days=day), action="search")


def step(grading: Grading, states: dict[str, CustomerState], events: list, offset: int, skip=()) -> None:  # type: ignore[no-untyped-def]
    batch = [positioned(e, ("p0" if isinstance(e, Purchase) else "u0"), offset + i) for i, e in enumerate(events)]
    loaded = {e.customer_id: Loaded(1, states.setdefault(e.customer_id, CustomerState())) for e in events}
    result = apply_events(loaded, batch, 0, Models(), clocks={"global": 0})
    grading.saved(result, batch, set(skip))


def test_a_score_is_graded_by_what_the_customer_did_in_the_horizon_after_it() -> None:
    grading, states = Grading(horizon_days=30), {}
    step(grading, states, [purchase("a", 0), purchase("b", 0), purchase("gone", 0)], 0)
    assert grading.grader.pending == 3
    step(grading, states, [use("a", 10), purchase("b", 20)], 3)  # active within 30 days; "gone" silent
    step(grading, states, [use("a", 45), use("b", 45)], 5)  # the clock passes day 40
    [v] = grading.report().versions
    # graded: a, b and "gone" as scored on day 0 (only "gone" silent through day 30), and a
    # as scored again on day 10 (a new prediction a week on), silent through day 40: churned
    # by the definition; b's day-20 score waits for day 50. No value model yet: version 0
    assert (v.version, v.churn.n, v.churn.positives) == (0, 4, 2)
    assert grading.grader.pending == 3  # b@20, a@45, b@45


def test_a_customer_whose_save_conflicted_is_neither_scored_nor_observed() -> None:
    grading, states = Grading(horizon_days=30), {}
    step(grading, states, [purchase("a", 0), purchase("b", 0)], 0, skip={"b"})
    assert grading.grader.pending == 1


def test_a_sweep_advances_the_grader_to_the_time_it_scored_at() -> None:
    from segstream.agents.step import rescore

    grading, states = Grading(horizon_days=30), {}
    step(grading, states, [purchase("a", 0)], 0)
    day = 86_400_000_000
    now = grading.now + 40 * day  # no input for 40 days: only the sweep scores "a"
    result = rescore({"a": Loaded(2, states["a"])}, {"a": now}, now, Models())
    grading.saved(result, [], (), now)
    assert grading.now == now
    [v] = grading.report().versions
    assert (v.churn.n, v.churn.positives) == (1, 1)  # the day-0 score: silent through day 30
