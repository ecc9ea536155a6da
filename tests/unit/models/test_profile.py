from __future__ import annotations

from segstream.models.decay import US_PER_DAY
from segstream.models.profile import ProfileModel


def test_newer_upsert_overrides_and_keeps_other_attributes() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 1, {"industry": "retail", "city": "北京", "city_tier": 1})
    s = m.learn_one(s, 2, {"city": "绵阳", "city_tier": 3, "industry": None})
    assert s.attrs() == {"industry": "retail", "city": "绵阳", "city_tier": 3}
    assert s.updated_us == 2


def test_late_upsert_only_fills_missing_attributes() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 10, {"company_size": "enterprise"})
    s = m.learn_one(s, 5, {"company_size": "micro", "ownership": "state_owned"})
    assert s.attrs() == {"company_size": "enterprise", "ownership": "state_owned"}
    assert s.updated_us == 10


def test_unknown_attributes_are_ignored() -> None:
    assert ProfileModel().learn_one(None, 1, {"shoe_size": 42}).attrs() == {}


def test_tenure_from_signup_or_first_seen() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 1, {}, signup_us=10 * US_PER_DAY)
    assert m.tenure_days(s, 40 * US_PER_DAY) == 30.0
    assert m.tenure_days(None, 40 * US_PER_DAY, first_seen_us=20 * US_PER_DAY) == 20.0
    assert m.tenure_days(None, 40 * US_PER_DAY) is None
