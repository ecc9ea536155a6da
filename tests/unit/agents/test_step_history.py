"""apply_events keeps each customer's history: every usage, feedback and profile event
is learned on top of what the customer's state already holds, never from scratch.

Each test applies two or more events of one kind to one customer, in separate batches
(the state goes through ``loaded`` as it would through Redis). Expected values are
computed by hand in the comments.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from segstream.agents.step import Positioned, apply_events, positioned
from segstream.scoring.models import Models
from segstream.state.customer import CustomerState
from segstream.state.store import Loaded
from segstream.streams.codec import to_us
from segstream.streams.schemas import Event, Feedback, Profile, Usage

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86_400_000_000


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def feed(events: list[tuple[Event, str, int]], models: Models | None = None) -> CustomerState:
    """Apply each event in its own batch to customer ``a``; its state afterwards."""
    loaded = {"a": Loaded(0, CustomerState())}
    for ev, source, offset in events:
        r = apply_events(loaded, [positioned(ev, source, offset)], 0, models or Models())
        assert r.failed == []
    return loaded["a"].state


def usage(day: float, action: str, n: int) -> tuple[Event, str, int]:
    return Usage(event_id=f"u{n}", customer_id="a", ts=at(day), action=action), "u0", n


def feedback(day: float, n: int, kind: str, **kw: Any) -> tuple[Event, str, int]:
    return Feedback(event_id=f"f{n}", customer_id="a", ts=at(day), kind=kind, **kw), "f0", n


def test_usage_event_keeps_previous_usage_history() -> None:
    st = feed([usage(0, "search", 0), usage(7, "reports", 1)])
    assert st.usage is not None
    f = Models().usage.predict_one(st.usage, to_us(at(7)))
    assert (f.events, f.distinct_features) == (2, 2)  # both events, both features
    # default half-lives 7 and 28 days; rate = decayed count / tau, tau = half-life / ln 2 (days)
    # short: 1 * 2^(-7/7) + 1 = 1.5 events  -> 1.5 * ln 2 / 7 = 0.148532 per day
    # long:  1 * 2^(-7/28) + 1 = 1.840896   -> 1.840896 * ln 2 / 28 = 0.045572 per day
    assert math.isclose(f.rate_short, 0.148532, rel_tol=1e-5)
    assert math.isclose(f.rate_long, 0.045572, rel_tol=1e-4)


def test_usage_event_counts_as_one_use_of_its_feature() -> None:
    st = feed([usage(0, "search", 0)])
    f = Models().usage.predict_one(st.usage, to_us(at(0)))
    # one event of weight 1 just now: short rate 1 * ln 2 / 7 = 0.099021 per day
    assert (f.events, f.distinct_features) == (1, 1)
    assert math.isclose(f.rate_short, 0.099021, rel_tol=1e-4)


def test_feedback_event_keeps_previous_feedback() -> None:
    st = feed(
        [
            feedback(1, 0, "nps", score=9),
            feedback(1, 1, "complaint", text="late delivery"),
            feedback(1, 2, "csat", score=5),
        ]
    )
    f = Models().satisfaction.predict_one(st.feedback, to_us(at(1)))
    # NPS 9 -> 0.9, CSAT 5 -> (5 - 1) / 4 = 1.0, at the same time: level (0.9 + 1.0) / 2
    assert math.isclose(f.level, 0.95)
    assert (f.nps_class, f.open_complaints) == ("promoter", 1)
    assert st.feedback is not None and st.feedback.complaint_text == "late delivery"


def test_profile_event_keeps_earlier_attributes_signup_and_renewal() -> None:
    signup, renewal = datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC)
    first = Profile(
        event_id="r1", customer_id="a", ts=at(1), industry="retail", signup_date=signup, renewal_date=renewal
    )
    later = Profile(event_id="r2", customer_id="a", ts=at(2), city_tier=2)
    st = feed([(first, "r0", 0), (later, "r0", 1)])
    assert st.profile is not None
    assert st.profile.attrs() == {"industry": "retail", "city_tier": 2}
    profile = Models().profile
    # 2023-12-01 .. 2024-01-03: 31 + 2 = 33 days; 2024-01-03 (day 3 of the year) .. 2024-12-31 (day 366): 363
    assert profile.tenure_days(st.profile, to_us(at(2))) == 33.0
    assert profile.days_to_renewal(st.profile, to_us(at(2))) == 363.0


def test_profile_event_without_dates_leaves_them_unknown() -> None:
    st = feed([(Profile(event_id="r1", customer_id="a", ts=at(1), industry="retail"), "r0", 0)])
    assert Models().profile.days_to_renewal(st.profile, to_us(at(1))) is None
    # tenure then counts from the customer's first event (day 1): 4 days at day 5
    assert Models().profile.tenure_days(st.profile, to_us(at(5)), st.first_us) == 4.0


def test_an_event_of_no_known_kind_is_reported_as_failed_with_its_type() -> None:
    odd = SimpleNamespace(customer_id="a", event_id="z")
    p = Positioned(odd, "p0", 0, 0)  # type: ignore[arg-type]
    r = apply_events({"a": Loaded(0, CustomerState())}, [p], 0, Models())
    assert r.failed == [(p, "TypeError: no model for SimpleNamespace")] and r.items == []
