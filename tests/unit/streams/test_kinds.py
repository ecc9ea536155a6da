"""The input-kind table: one row per input topic, consistent with the state and settings."""

from __future__ import annotations

from datetime import UTC, datetime

from segstream.config import Settings
from segstream.state.customer import CustomerState
from segstream.streams import kinds
from segstream.streams.codec import EventCodec, Rejection


def test_codes_are_single_distinct_letters() -> None:
    codes = [k.code for k in kinds.KINDS]
    assert len(set(codes)) == len(codes) and all(len(c) == 1 and c.isalpha() for c in codes)


def test_each_kind_changes_a_part_of_the_customer_state() -> None:
    fields = set(CustomerState.__struct_fields__)
    assert {k.part for k in kinds.KINDS} <= fields
    assert len({k.part for k in kinds.KINDS}) == len(kinds.KINDS)


def test_only_purchases_and_usage_count_as_activity() -> None:
    # lifecycle and churn read silence in these two; feedback and profile updates are not use
    assert kinds.ACTIVITY_CODES == ("p", "u")


def test_every_kind_has_a_topic_setting_and_a_codec() -> None:
    settings = Settings()
    for k in kinds.KINDS:
        assert settings.topic(k.name)
        rejected = EventCodec(k.name).decode(b"{}", datetime.now(UTC))
        assert isinstance(rejected, Rejection) and rejected.reason == "missing_field"  # its schema is checked
