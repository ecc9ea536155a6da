from __future__ import annotations

import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.satisfaction import MAX_TEXT, SatisfactionModel, normalised, nps_class


@pytest.mark.parametrize(
    ("score", "cls"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")],
)
def test_nps_class_boundaries(score: int, cls: str) -> None:
    assert nps_class(score) == cls


def test_scores_normalise_to_zero_one() -> None:
    assert [normalised("nps", s) for s in (0, 5, 10)] == [0.0, 0.5, 1.0]
    assert [normalised("csat", s) for s in (1, 3, 5)] == [0.0, 0.5, 1.0]
    assert normalised("complaint", 1) is None


def test_level_is_the_decayed_mean_hand_computed() -> None:
    # long half-life 10 days: NPS 10 at day 0 (weight 0.5 by day 10) and CSAT 1 at day 10 (weight 1)
    m = SatisfactionModel(short_half_life_days=1, long_half_life_days=10)
    s = m.learn_one(None, 0, "nps", 10)
    s = m.learn_one(s, 10 * US_PER_DAY, "csat", 1)
    f = m.predict_one(s, 10 * US_PER_DAY)
    assert f.level == pytest.approx((1.0 * 0.5 + 0.0 * 1) / 1.5, rel=1e-12)
    assert f.trend is not None and f.trend < 0  # recent answers are worse than the long run


def test_latest_nps_by_event_time_decides_the_class_even_when_it_arrives_first() -> None:
    m = SatisfactionModel()
    s = m.learn_one(None, 5 * US_PER_DAY, "nps", 3)  # later answer arrives first
    s = m.learn_one(s, 1 * US_PER_DAY, "nps", 10)  # an older answer arrives late
    assert m.predict_one(s, 5 * US_PER_DAY).nps_class == "detractor"


def test_open_complaints_count_down_on_resolution_and_text_is_bounded() -> None:
    m = SatisfactionModel()
    s = m.learn_one(None, 0, "complaint", None, text="太慢了" * 100)
    s = m.learn_one(s, US_PER_DAY, "complaint", None, text="again")
    assert m.predict_one(s, 3 * US_PER_DAY).open_complaints == 2
    assert m.predict_one(s, 3 * US_PER_DAY).days_since_complaint == pytest.approx(2.0)
    assert s.complaint_text == "again"
    s = m.learn_one(s, 2 * US_PER_DAY, "complaint_resolved", None)
    assert m.predict_one(s, 3 * US_PER_DAY).open_complaints == 1
    long_text = m.learn_one(None, 0, "complaint", None, text="太慢了" * 100).complaint_text
    assert len(long_text) == MAX_TEXT


def test_no_feedback_means_no_level() -> None:
    f = SatisfactionModel().predict_one(None, 0)
    assert (f.level, f.trend, f.nps_class, f.open_complaints) == (None, None, None, 0)


def test_complaint_severity_is_the_mean_of_the_rated_complaints() -> None:
    m = SatisfactionModel()
    s = m.learn_one(None, 0, "complaint", None)
    assert m.predict_one(s, 0).complaint_severity is None  # none rated yet
    s = m.learn_one(s, 1, "complaint", 5)
    s = m.learn_one(s, 2, "complaint", 2)
    s = m.learn_one(s, 3, "complaint_resolved", None)
    f = m.predict_one(s, 3)
    assert (f.complaint_severity, f.open_complaints) == ((5 + 2) / 2, 2)
    assert f.level is None  # a severity is not a satisfaction score
