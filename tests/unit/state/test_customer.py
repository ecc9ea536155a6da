from __future__ import annotations

from segstream.models.profile import ProfileState
from segstream.models.rfm import PurchaseSummary
from segstream.models.satisfaction import FeedbackState
from segstream.models.usage import UsageState
from segstream.state.customer import RECENT_IDS, CustomerState, header, pack, unpack


def full_state() -> CustomerState:
    t = 1_700_000_000_000_000
    st = CustomerState(
        offsets={"p3": 123_456_789, "u3": 98_765_432, "f3": 1_234_567, "r3": 12_345},
        first_us=t - 10**14,
        last_us=t,
        purchases=PurchaseSummary(t - 10**14, t, 12, 123_456),
        usage=UsageState(3.2, 11.7, t, t, 240, 0b1011_0110),
        feedback=FeedbackState(0.61, 0.9, 2.4, 3.1, t, 9, t, 2, 1, t, "包裹晚到了三天，客服没有回复"),
        profile=ProfileState(
            t,
            t - 10**14,
            kind="organisation",
            industry="制造业",
            company_size="sme",
            region="华东",
            city="上海",
            city_tier=1,
            ownership="private",
            contract=True,
        ),
        segments={"rfm": "champions"},
    )
    for topic in "pufr":
        for i in range(RECENT_IDS):
            st.remember(topic, f"evt-{i:012d}", t)
    return st


def test_state_round_trips_with_its_version_header() -> None:
    st = full_state()
    blob = pack(7, st)
    assert blob[:8] == header(7)
    assert unpack(blob) == (7, st)


def test_missing_customer_is_version_zero_with_empty_header() -> None:
    assert unpack(None) == (0, CustomerState())
    assert header(0) == b""


def test_recent_event_ids_are_bounded_and_recognised() -> None:
    st = CustomerState()
    for i in range(20):
        st.remember("p", f"e{i}", 1 + i)
    assert len(st.recent["p"]) == RECENT_IDS
    assert st.seen("p", "e19") and st.seen("p", f"e{20 - RECENT_IDS}") and not st.seen("p", "e0")
    assert not st.seen("u", "e19")  # rings are per input topic
    assert (st.first_us, st.last_us) == (1, 20)


def test_full_state_value_stays_small() -> None:
    # the value only; docs/BENCHMARKS.md measures Redis MEMORY USAGE including key overhead
    assert len(pack(1, full_state())) <= 425  # 420 in format 1: format 2 adds 5 bytes of empty parts
