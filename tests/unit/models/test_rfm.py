from __future__ import annotations

import itertools

import pytest

from segstream.models.rfm import (
    CN8_SEGMENTS,
    RFM_SEGMENTS,
    SEGMENT_NAMES,
    US_PER_DAY,
    FixedRFMScorer,
    PurchaseSummary,
    segment_of,
)


def summary(*purchases: tuple[float, int]) -> PurchaseSummary:
    s = PurchaseSummary()
    for day, cents in purchases:
        s = s.add(int(day * US_PER_DAY), cents)
    return s


def test_summary_counts_sums_and_keeps_first_and_last_time() -> None:
    s = summary((3, 1000), (1, 250), (7, 5))
    assert (s.count, s.spend_minor) == (3, 1255)
    assert (s.first_us, s.last_us) == (1 * US_PER_DAY, 7 * US_PER_DAY)


def test_summary_is_order_independent() -> None:
    events = [(5, 100), (2, 200), (9, 300), (1, 400)]
    results = {summary(*perm) for perm in itertools.permutations(events)}
    assert len(results) == 1


def test_rfm_score_drops_as_recency_grows() -> None:
    scorer = FixedRFMScorer()
    s = summary((0, 1000))
    rs = [scorer.score_one(s, int(d * US_PER_DAY)).r for d in (0, 30, 30.01, 60, 61, 120, 121, 240, 241, 5000)]
    assert rs == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


@pytest.mark.parametrize(("count", "f"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (50, 5)])
def test_frequency_score_thresholds(count: int, f: int) -> None:
    s = summary(*[(0, 1)] * count)
    assert FixedRFMScorer().score_one(s, 0).f == f


@pytest.mark.parametrize(
    ("cents", "m"), [(0, 1), (4_999, 1), (5_000, 2), (10_000, 3), (25_000, 4), (49_999, 4), (50_000, 5)]
)
def test_monetary_score_thresholds(cents: int, m: int) -> None:
    assert FixedRFMScorer().score_one(summary((0, cents)), 0).m == m


def test_every_score_pair_has_exactly_one_segment_and_all_eleven_are_used() -> None:
    used = {segment_of(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert used == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 11


@pytest.mark.parametrize(
    ("r", "fm", "segment"),
    [
        (5, 5, "champions"),
        (4, 4, "champions"),
        (5, 3, "loyal"),
        (3, 3, "loyal"),
        (3, 5, "loyal"),
        (5, 2, "potential_loyalist"),
        (4, 2, "potential_loyalist"),
        (5, 1, "new"),
        (4, 1, "promising"),
        (3, 2, "need_attention"),
        (3, 1, "about_to_sleep"),
        (2, 3, "at_risk"),
        (2, 5, "at_risk"),
        (1, 3, "at_risk"),
        (1, 4, "cannot_lose_them"),
        (1, 5, "cannot_lose_them"),
        (2, 2, "hibernating"),
        (2, 1, "hibernating"),
        (1, 2, "lost"),
        (1, 1, "lost"),
    ],
)
def test_segment_boundaries(r: int, fm: int, segment: str) -> None:
    assert segment_of(r, fm) == segment


@pytest.mark.parametrize(("r", "fm"), [(0, 3), (6, 3), (3, 0), (3, 6)])
def test_segment_of_rejects_scores_outside_one_to_five(r: int, fm: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_of(r, fm)


def test_names_exist_in_english_and_chinese_for_every_segment() -> None:
    for lang in ("en", "zh-CN"):
        assert set(SEGMENT_NAMES[lang]) == set(RFM_SEGMENTS) | set(CN8_SEGMENTS.values())
    assert SEGMENT_NAMES["zh-CN"]["champions"] == "冠军客户"


def test_scorer_rejects_unsorted_thresholds_and_customers_without_purchases() -> None:
    with pytest.raises(ValueError, match="ascending"):
        FixedRFMScorer(recency_days=(60, 30, 120, 240))
    with pytest.raises(ValueError, match="without purchases"):
        FixedRFMScorer().score_one(PurchaseSummary(), 0)
