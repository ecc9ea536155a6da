from __future__ import annotations

from segstream.state.customer import CustomerState, header, pack, unpack


def test_state_round_trips_with_its_version_header() -> None:
    st = CustomerState(offsets={"p3": 12}, p_count=2, p_spend_minor=1999, segments={"rfm": "new"})
    blob = pack(7, st)
    assert blob[:8] == header(7)
    assert unpack(blob) == (7, st)


def test_missing_customer_is_version_zero_with_empty_header() -> None:
    assert unpack(None) == (0, CustomerState())
    assert header(0) == b""


def test_packed_state_is_compact() -> None:
    st = CustomerState(
        offsets={"p3": 123_456_789},
        last_event_us=1_700_000_000_000_000,
        p_first_us=1_690_000_000_000_000,
        p_last_us=1_700_000_000_000_000,
        p_count=12,
        p_spend_minor=123_456,
        segments={"rfm": "champions"},
    )
    assert len(pack(1, st)) < 80
