from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstream.streams.codec import REASONS, EventCodec, Rejection, from_us, to_us
from segstream.streams.schemas import Feedback, Profile, Purchase

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def doc(**over: object) -> bytes:
    d: dict[str, object] = {"event_id": "e1", "customer_id": "c1", "ts": "2025-06-01T12:00:00+02:00", "amount": 12.5}
    d.update(over)
    return json.dumps({k: v for k, v in d.items() if v is not ...}, ensure_ascii=False).encode()


def reason(raw: bytes | None, kind: str = "purchases", **kw: object) -> str:
    result = EventCodec(kind, **kw).decode(raw, NOW)  # type: ignore[arg-type]
    assert isinstance(result, Rejection), result
    assert result.reason in REASONS and result.detail
    return result.reason


def test_valid_purchase_decodes_with_aware_event_time() -> None:
    ev = EventCodec("purchases").decode(doc(channel="online", items=2), NOW)
    assert isinstance(ev, Purchase)
    assert ev.ts == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert (ev.amount, ev.items, ev.channel) == (12.5, 2, "online")


def test_utf8_customer_ids_are_accepted() -> None:
    ev = EventCodec("purchases").decode(doc(customer_id="客户-北京-001"), NOW)
    assert isinstance(ev, Purchase) and ev.customer_id == "客户-北京-001"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"{oops", "not_json"),
        (b"\xff\xfe\x00", "not_utf8"),
        (b'{"event_id":"e","customer_id":"c","ts":"2025-01-01T00:00:00Z","amount":NaN}', "non_finite_number"),
        (b'{"event_id":"e","customer_id":"c","ts":"2025-01-01T00:00:00Z","amount":Infinity}', "non_finite_number"),
        (doc(customer_id=...), "missing_field"),
        (doc(ts=...), "missing_field"),
        (doc(amount="12"), "wrong_type"),
        (b"[1, 2]", "wrong_type"),
        (doc(customer_id=""), "invalid_value"),
        (doc(customer_id="x" * 10_000), "invalid_value"),
        (doc(channel="television"), "invalid_value"),
        (b'{"event_id":"e","customer_id":"c","ts":"2025-01-01T00:00:00Z","amount":1e999}', "invalid_value"),
        (doc(ts="2025-06-01T12:00:00"), "no_timezone"),
        (doc(ts="1900-01-01T00:00:00Z"), "timestamp_out_of_range"),
        (doc(ts="3000-01-01T00:00:00Z"), "timestamp_out_of_range"),
        (doc(amount=-0.01), "bad_amount"),
        (doc(discount=-1), "bad_amount"),
        (doc(currency="EUR"), "unsupported_currency"),
        (doc(amount=1e300), "bad_amount"),
        (doc(items=-1), "invalid_value"),
        (doc(items=2_000_000), "invalid_value"),
        (b'{"event_id":"\xff","customer_id":"c","ts":"2025-01-01T00:00:00Z","amount":1}', "not_utf8"),
    ],
)
def test_each_bad_purchase_is_rejected_with_its_reason(raw: bytes | None, expected: str) -> None:
    assert reason(raw) == expected


def test_currency_defaults_to_the_deployment_currency() -> None:
    assert isinstance(EventCodec("purchases", currency="CNY").decode(doc(), NOW), Purchase)
    assert reason(doc(currency="USD"), currency="CNY") == "unsupported_currency"


def test_oversized_event_is_rejected_before_parsing() -> None:
    assert reason(doc(coupon="x" * 300), max_bytes=256) == "too_large"


def test_event_a_little_ahead_of_wall_clock_is_accepted_but_not_a_day_beyond() -> None:
    codec = EventCodec("purchases", max_future=timedelta(hours=1))
    assert isinstance(codec.decode(doc(ts=(NOW + timedelta(minutes=30)).isoformat()), NOW), Purchase)
    assert (
        reason(doc(ts=(NOW + timedelta(hours=2)).isoformat()), max_future=timedelta(hours=1))
        == "timestamp_out_of_range"
    )


@pytest.mark.parametrize(
    ("kind", "score", "ok"),
    [
        ("nps", 0, True),
        ("nps", 10, True),
        ("nps", 11, False),
        ("nps", -1, False),
        ("nps", None, False),
        ("csat", 1, True),
        ("csat", 5, True),
        ("csat", 0, False),
        ("review", 6, False),
        ("complaint", None, True),
        ("complaint", 1, True),  # a complaint's score is its severity, 1 (minor) .. 5 (severe)
        ("complaint", 5, True),
        ("complaint", 0, False),
        ("complaint", 6, False),
    ],
)
def test_feedback_scores_must_be_in_their_range(kind: str, score: float | None, ok: bool) -> None:
    raw = json.dumps(
        {"event_id": "f", "customer_id": "c", "ts": "2025-01-01T00:00:00Z", "kind": kind, "score": score}
    ).encode()
    result = EventCodec("feedback").decode(raw, NOW)
    if ok:
        assert isinstance(result, Feedback)
    else:
        assert isinstance(result, Rejection) and result.reason == "bad_score"


def test_codec_for_an_unknown_event_type_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        EventCodec("refunds")


def test_microsecond_time_round_trips_exactly() -> None:
    ts = datetime(1997, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert from_us(to_us(ts)) == ts


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    result = EventCodec("purchases").decode(raw, NOW)
    assert isinstance(result, Purchase | Rejection)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["event_id", "customer_id", "ts", "amount", "items", "channel", "discount"]), json_values
    )
)
def test_decoder_classifies_any_json_object_without_raising(fields: dict[str, object]) -> None:
    raw = json.dumps(fields).encode()
    result = EventCodec("purchases").decode(raw, NOW)
    if isinstance(result, Rejection):
        assert result.reason in REASONS


def profile(attributes: object) -> bytes:
    return json.dumps(
        {"event_id": "r", "customer_id": "c", "ts": "2025-01-01T00:00:00Z", "attributes": attributes},
        ensure_ascii=False,
    ).encode()


def test_custom_profile_attributes_are_text_numbers_booleans_or_null() -> None:
    ev = EventCodec("profiles").decode(profile({"tier": "gold", "seats": 25, "vip": True, "lifestyle": None}), NOW)
    assert isinstance(ev, Profile)
    assert ev.attributes == {"tier": "gold", "seats": 25.0, "vip": True, "lifestyle": None}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"Tier": "gold"}, "invalid_value"),  # names are lower case
        ({"1st": "x"}, "invalid_value"),
        ({"a" * 33: "x"}, "invalid_value"),
        ({"tier": "x" * 65}, "invalid_value"),
        ({"tier": ["gold"]}, "wrong_type"),
        ({"tier": {"level": 1}}, "wrong_type"),
        ({f"k{i}": i for i in range(17)}, "invalid_value"),  # at most 16
        ("gold", "wrong_type"),
        ({"seats": float("inf")}, "non_finite_number"),  # json.dumps writes Infinity
    ],
)
def test_bad_custom_attributes_are_rejected_with_their_reason(attributes: object, expected: str) -> None:
    assert reason(profile(attributes), "profiles") == expected


def test_sixteen_custom_attributes_of_the_longest_names_and_texts_are_accepted() -> None:
    attrs = {f"k{i:02d}" + "x" * 29: "y" * 64 for i in range(16)}
    ev = EventCodec("profiles").decode(profile(attrs), NOW)
    assert isinstance(ev, Profile) and ev.attributes == attrs


def test_a_custom_attribute_number_beyond_float_range_is_rejected_so_every_stored_number_is_finite() -> None:
    raw = profile({"seats": 1.0}).replace(b"1.0", b"1e400")
    assert reason(raw, "profiles") == "invalid_value"
