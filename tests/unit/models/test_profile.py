from __future__ import annotations

import pytest

from segstream.models.decay import US_PER_DAY
from segstream.models.profile import MAX_CUSTOM, ProfileModel


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


def test_custom_attributes_are_upserted_and_null_removes_one() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 1, {}, custom={"tier": "gold", "seats": 25.0})
    s = m.learn_one(s, 2, {}, custom={"seats": None, "vip": True})
    assert s.custom == {"tier": "gold", "vip": True}
    s = m.learn_one(s, 3, {"industry": "retail"})  # an event without custom attributes keeps them
    assert s.custom == {"tier": "gold", "vip": True} and s.attrs() == {"industry": "retail"}


def test_a_late_event_only_fills_missing_custom_attributes_and_cannot_remove_one() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 10, {}, custom={"tier": "gold"})
    s = m.learn_one(s, 5, {}, custom={"tier": "bronze", "lifestyle": "户外", "vip": None})
    assert s.custom == {"tier": "gold", "lifestyle": "户外"}
    s = m.learn_one(s, 6, {}, custom={"tier": None})
    assert s.custom["tier"] == "gold"


def test_more_custom_attributes_than_a_customer_may_keep_is_an_error_and_changes_nothing() -> None:
    m = ProfileModel()
    s = m.learn_one(None, 1, {}, custom={f"a{i}": float(i) for i in range(MAX_CUSTOM)})
    with pytest.raises(ValueError, match="more than 16"):
        m.learn_one(s, 2, {}, custom={"one_more": 1.0})
    assert len(s.custom) == MAX_CUSTOM
    s = m.learn_one(s, 3, {}, custom={"a0": None, "one_more": 1.0})  # replacing one is fine
    assert len(s.custom) == MAX_CUSTOM and "one_more" in s.custom and "a0" not in s.custom
